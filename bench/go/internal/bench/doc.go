// Package bench is the code the Go workload programs in bench/go (spawn,
// park, yield, pingpong, sieve) share: flags (flags.go), RSS measurement
// (rss.go), timing (clock.go) and the JSON result line (jsonline.go).
package bench
