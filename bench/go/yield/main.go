// yield — W3 in Go, the counterpart of weft's examples/yield.cpp.
//
// Two goroutines on one P each call runtime.Gosched() --n times, so every
// yield switches to the other goroutine; main is parked in a WaitGroup wait
// meanwhile. ns_per_yield = wall / (2 n). --procs defaults to 1, as in
// yield.cpp. See shared BENCHMARKS.md, W3.
//
// JSON: workload, runtime, procs, n, wall_ms, ns_per_yield.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	n := flag.Int64("n", 5_000_000, "yields per goroutine, in [1, 1000000000]")
	procs := flag.Int64("procs", 1, "Ps (GOMAXPROCS), 0 = all cores, in [0, 1024]")
	flag.Parse()
	checkArgs()
	checkRange("n", *n, 1, 1_000_000_000)
	checkRange("procs", *procs, 0, 1024)
	setProcs(*procs)

	var done [2]int64 // each written by its own goroutine only
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(2)
	for k := range done {
		c := &done[k]
		go func() {
			for i := int64(0); i < *n; i++ {
				runtime.Gosched()
				*c++
			}
			wg.Done()
		}()
	}
	wg.Wait()
	wallMs := msSince(start)

	if done[0] != *n || done[1] != *n {
		fmt.Fprintf(os.Stderr, "yield: FAILED: the goroutines made %d and %d yields, expected %d each\n",
			done[0], done[1], *n)
		os.Exit(1)
	}
	nsPerYield := wallMs * 1e6 / (2.0 * float64(*n))
	fmt.Printf("yield: 2 goroutines x %d yields on %d P(s) in %.1f ms: %.1f ns per yield\n",
		*n, runtime.GOMAXPROCS(0), wallMs, nsPerYield)
	jsonLine("yield",
		kv{"procs", runtime.GOMAXPROCS(0)},
		kv{"n", *n},
		kv{"wall_ms", fixed(wallMs, 3)},
		kv{"ns_per_yield", fixed(nsPerYield, 1)})
}

// ---- shared by the five programs (copied, so each stays one file) ----

type kv struct {
	key   string
	value interface{}
}

type fixedFloat struct {
	v        float64
	decimals int
}

func fixed(v float64, decimals int) fixedFloat { return fixedFloat{v, decimals} }

// jsonLine prints the result line in the weft examples' format, plus
// "runtime": "go".
func jsonLine(workload string, kvs ...kv) {
	var b strings.Builder
	fmt.Fprintf(&b, "{\"workload\": %q, \"runtime\": \"go\"", workload)
	for _, p := range kvs {
		switch v := p.value.(type) {
		case fixedFloat:
			fmt.Fprintf(&b, ", %q: %.*f", p.key, v.decimals, v.v)
		default:
			fmt.Fprintf(&b, ", %q: %v", p.key, v)
		}
	}
	b.WriteString("}\n")
	os.Stdout.WriteString(b.String())
}

func checkArgs() {
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument '%s'\n", os.Args[0], flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
}

func checkRange(name string, v, lo, hi int64) {
	if v < lo || v > hi {
		fmt.Fprintf(os.Stderr, "%s: --%s: '%d' is not an integer in [%d, %d]\n", os.Args[0], name, v, lo, hi)
		os.Exit(2)
	}
}

// setProcs is weft's --procs: 0 means all cores.
func setProcs(procs int64) {
	if procs == 0 {
		procs = int64(runtime.NumCPU())
	}
	runtime.GOMAXPROCS(int(procs))
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// currentRSSBytes reads the resident set from /proc/self/statm (pages), as
// examples/common/rss.cpp does.
func currentRSSBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, resident int64
	if got, _ := fmt.Sscan(string(data), &size, &resident); got != 2 {
		return -1
	}
	return resident * int64(os.Getpagesize())
}

// peakRSSKB is getrusage's ru_maxrss (KiB on Linux), or the current RSS if
// that is higher (the kernel updates the high-water mark lazily), as
// examples/common/rss.cpp does.
func peakRSSKB() int64 {
	var ru syscall.Rusage
	peak := int64(-1)
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		peak = ru.Maxrss
	}
	if now := currentRSSBytes() / 1024; now > peak {
		return now
	}
	return peak
}
