// spawn — W1 in Go, the counterpart of weft's examples/spawn.cpp.
//
// Spawns --n goroutines; each adds 1 to a shared atomic counter and signals a
// WaitGroup; main waits, then checks counter == n. The timing window is the
// spawn loop plus the wait. See docs/BENCHMARKS.md, W1.
//
// JSON: workload, runtime, procs, n, wall_ms, ns_per_fiber, peak_rss_kb.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"weftbench/internal/bench"
)

func main() {
	n := bench.Int64("n", 1_000_000, 1, 100_000_000, "fibers (goroutines) to spawn")
	procs := bench.Procs(0)
	bench.Parse()
	bench.SetProcs(*procs)

	var counter atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(int(*n))
	for i := int64(0); i < *n; i++ {
		go func() {
			counter.Add(1)
			wg.Done()
		}()
	}
	wg.Wait()
	wallMs := bench.MsSince(start)

	if got := counter.Load(); got != *n {
		fmt.Fprintf(os.Stderr, "spawn: FAILED: counter is %d after %d goroutines\n", got, *n)
		os.Exit(1)
	}
	nsPerFiber := wallMs * 1e6 / float64(*n)
	peak := bench.PeakRSSKB()
	fmt.Printf("spawn: %d goroutines on %d Ps in %.1f ms: %.1f ns per goroutine, peak RSS %d KiB; counter ok\n",
		*n, runtime.GOMAXPROCS(0), wallMs, nsPerFiber, peak)
	bench.JSONLine("spawn",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("n", *n),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("ns_per_fiber", bench.Fixed(nsPerFiber, 1)),
		bench.KV("peak_rss_kb", peak))
}
