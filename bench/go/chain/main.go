// chain — W10 in Go, the counterpart of weft's examples/chain.cpp (Go's own
// test/chan/goroutines.go, repeated).
//
// Each round builds a chain of --n goroutines joined by unbuffered
// channels: goroutine i receives from channel i+1 and sends what it got
// plus one into channel i. Once all are started, main sends 0 into the last
// channel and receives from the first, which must give n. The timing window
// covers all --rounds rounds. See docs/BENCHMARKS.md, W10.
//
// JSON: workload, runtime, procs, n, rounds, wall_ms, ns_per_fiber, peak_rss_kb.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"weftbench/internal/bench"
)

func main() {
	n := bench.Int64("n", 10_000, 1, 10_000_000, "goroutines in the chain")
	rounds := bench.Int64("rounds", 10, 1, 1_000_000, "chains built and run, one after another")
	procs := bench.Procs(0)
	bench.Parse()
	bench.SetProcs(*procs)

	start := time.Now()
	for r := int64(0); r < *rounds; r++ {
		leftmost := make(chan int64)
		left := leftmost
		for i := int64(0); i < *n; i++ {
			right := make(chan int64)
			go func(left, right chan int64) { left <- 1 + <-right }(left, right)
			left = right
		}
		left <- 0
		if got := <-leftmost; got != *n {
			fmt.Fprintf(os.Stderr, "chain: FAILED: round %d ended with %d, not %d\n", r, got, *n)
			os.Exit(1)
		}
	}
	wallMs := bench.MsSince(start)
	nsPerFiber := wallMs * 1e6 / float64(*n**rounds)
	peak := bench.PeakRSSKB()
	fmt.Printf("chain: %d rounds of %d chained goroutines on %d Ps in %.1f ms: %.1f ns per goroutine, peak RSS %d KiB; every value arrived\n",
		*rounds, *n, runtime.GOMAXPROCS(0), wallMs, nsPerFiber, peak)
	bench.JSONLine("chain",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("n", *n),
		bench.KV("rounds", *rounds),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("ns_per_fiber", bench.Fixed(nsPerFiber, 1)),
		bench.KV("peak_rss_kb", peak))
}
