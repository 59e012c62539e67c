// yield — W3 in Go, the counterpart of weft's examples/yield.cpp.
//
// Two goroutines on one P each call runtime.Gosched() --n times, so every
// yield switches to the other goroutine; main is parked in a WaitGroup wait
// meanwhile. ns_per_yield = wall / (2 n). --procs defaults to 1, as in
// yield.cpp. See docs/BENCHMARKS.md, W3.
//
// JSON: workload, runtime, procs, n, wall_ms, ns_per_yield.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"weftbench/internal/bench"
)

func main() {
	n := bench.Int64("n", 5_000_000, 1, 1_000_000_000, "yields per goroutine")
	procs := bench.Procs(1)
	bench.Parse()
	bench.SetProcs(*procs)

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
	wallMs := bench.MsSince(start)

	if done[0] != *n || done[1] != *n {
		fmt.Fprintf(os.Stderr, "yield: FAILED: the goroutines made %d and %d yields, expected %d each\n",
			done[0], done[1], *n)
		os.Exit(1)
	}
	nsPerYield := wallMs * 1e6 / (2.0 * float64(*n))
	fmt.Printf("yield: 2 goroutines x %d yields on %d P(s) in %.1f ms: %.1f ns per yield\n",
		*n, runtime.GOMAXPROCS(0), wallMs, nsPerYield)
	bench.JSONLine("yield",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("n", *n),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("ns_per_yield", bench.Fixed(nsPerYield, 1)))
}
