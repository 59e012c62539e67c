// Package bench is the code the Go workload programs in bench/go (spawn,
// park, yield, pingpong, sieve, binarytrees, gcpause) share: flags
// (flags.go), RSS measurement (rss.go), timing (clock.go), host steal
// time (steal.go), the JSON result line (jsonline.go) and --trace
// (trace.go).
package bench
