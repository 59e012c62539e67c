// park — W2 in Go, the counterpart of weft's examples/park.cpp.
//
// Starts --n goroutines that each block receiving from ONE shared unbuffered
// channel. Once all of them are parked, the growth of the resident set
// (/proc/self/statm) since just before the first spawn, divided by n, is
// bytes_per_parked_fiber. Then the channel is closed, which wakes every
// receiver with "closed", and main waits for all of them through a
// WaitGroup. See docs/BENCHMARKS.md, W2.
//
// "All parked" is observed as in park.cpp: each goroutine bumps `arrived`
// right before its receive; main calls runtime.Gosched() until
// arrived == n, then keeps yielding for at least 16 more rounds and 2 ms.
//
// The timing window (wall_ms) covers spawning, parking, the RSS reading,
// close and the final wait.
//
// JSON: workload, runtime, procs, n, wall_ms, bytes_per_parked_fiber,
// rss_before_kb, rss_parked_kb, peak_rss_kb.
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

const (
	settleRounds = 16
	settleMs     = 2.0
)

func main() {
	n := bench.Int64("n", 100_000, 1, 10_000_000, "fibers (goroutines) to park")
	procs := bench.Procs(0)
	bench.Parse()
	bench.SetProcs(*procs)

	ch := make(chan int32) // unbuffered; nobody ever sends
	var arrived, closedSeen atomic.Int64
	var wg sync.WaitGroup

	rssBefore := bench.CurrentRSSBytes()
	start := time.Now()
	wg.Add(int(*n))
	for i := int64(0); i < *n; i++ {
		go func() {
			arrived.Add(1)
			if _, ok := <-ch; !ok {
				closedSeen.Add(1)
			}
			wg.Done()
		}()
	}
	for arrived.Load() < *n {
		runtime.Gosched()
	}
	settle := time.Now()
	for round := 0; round < settleRounds || bench.MsSince(settle) < settleMs; round++ {
		runtime.Gosched()
	}
	rssParked := bench.CurrentRSSBytes()
	parkMs := bench.MsSince(start)

	close(ch)
	wg.Wait()
	wallMs := bench.MsSince(start)

	if woken := closedSeen.Load(); woken != *n {
		fmt.Fprintf(os.Stderr, "park: FAILED: %d of %d receivers saw the channel closed\n", woken, *n)
		os.Exit(1)
	}
	if rssBefore < 0 || rssParked < 0 {
		fmt.Fprintf(os.Stderr, "park: FAILED: cannot read /proc/self/statm\n")
		os.Exit(1)
	}
	perFiber := float64(rssParked-rssBefore) / float64(*n)
	peak := bench.PeakRSSKB()
	fmt.Printf("park: %d goroutines parked on %d Ps in %.1f ms; RSS %d KiB -> %d KiB: %.0f bytes per parked goroutine\n",
		*n, runtime.GOMAXPROCS(0), parkMs, rssBefore/1024, rssParked/1024, perFiber)
	fmt.Printf("park: closed the channel, all %d woke and finished; total %.1f ms, peak RSS %d KiB\n", *n, wallMs, peak)
	bench.JSONLine("park",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("n", *n),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("bytes_per_parked_fiber", bench.Fixed(perFiber, 0)),
		bench.KV("rss_before_kb", rssBefore/1024),
		bench.KV("rss_parked_kb", rssParked/1024),
		bench.KV("peak_rss_kb", peak))
}
