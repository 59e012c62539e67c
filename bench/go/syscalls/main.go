// syscalls — W9 in Go, the counterpart of weft's examples/syscalls.cpp.
//
// --n goroutines each make --calls blocking 1 ms sleeps through
// syscall.Nanosleep: a raw nanosleep(2) that blocks the goroutine's thread,
// bracketed by the runtime's entersyscall/exitsyscall (not time.Sleep,
// which is a timer). Meanwhile a ticker goroutine sleeps 1 ms at a time
// with time.Sleep and records how late each wake-up is. A run slower than
// the serial time (n x calls ms) means blocked calls were not handed off:
// the program says so and exits 1 (n >= 2). See docs/BENCHMARKS.md, W9.
//
// The timing window (wall_ms) runs from the first spawn to the last
// sleeper's end; ticker_max_late_us is the worst lateness in it.
//
// JSON: workload, runtime, procs, n, calls, wall_ms, ticker_max_late_us.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"weftbench/internal/bench"
)

func main() {
	n := bench.Int64("n", 100, 1, 100_000, "goroutines making blocking calls")
	calls := bench.Int64("calls", 20, 1, 1_000_000, "blocking 1 ms sleeps per goroutine")
	procs := bench.Procs(2)
	bench.Parse()
	bench.SetProcs(*procs)

	var stop atomic.Bool
	var maxLateNs, ticks atomic.Int64
	var tickerDone, sleepers sync.WaitGroup

	tickerDone.Add(1)
	go func() {
		for !stop.Load() {
			intended := time.Now().Add(time.Millisecond)
			time.Sleep(time.Millisecond)
			late := time.Since(intended).Nanoseconds()
			if late > maxLateNs.Load() {
				maxLateNs.Store(late)
			}
			ticks.Add(1)
		}
		tickerDone.Done()
	}()
	// Start measuring once the ticker runs (its first wake-up is not part
	// of the window), as syscalls.cpp does.
	for ticks.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	maxLateNs.Store(0)
	ticksBefore := ticks.Load()

	start := time.Now()
	sleepers.Add(int(*n))
	for i := int64(0); i < *n; i++ {
		go func() {
			ts := syscall.Timespec{Nsec: int64(time.Millisecond)}
			for c := int64(0); c < *calls; c++ {
				for {
					var rem syscall.Timespec
					if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
						break
					}
					ts = rem
				}
				ts = syscall.Timespec{Nsec: int64(time.Millisecond)}
			}
			sleepers.Done()
		}()
	}
	sleepers.Wait()
	wallMs := bench.MsSince(start)
	windowTicks := ticks.Load() - ticksBefore
	stop.Store(true)
	tickerDone.Wait()
	maxLateUs := float64(maxLateNs.Load()) / 1e3

	fmt.Printf("syscalls: %d goroutines x %d blocking 1 ms sleeps on %d Ps in %.1f ms (serial %d ms); "+
		"ticker woke %d times, worst %.0f us late\n",
		*n, *calls, runtime.GOMAXPROCS(0), wallMs, *n**calls, windowTicks, maxLateUs)
	serialMs := float64(*n * *calls)
	if *n >= 2 && wallMs >= serialMs {
		fmt.Fprintf(os.Stderr, "syscalls: FAILED: %.1f ms is not less than the serial time %.0f ms\n", wallMs, serialMs)
		os.Exit(1)
	}
	bench.JSONLine("syscalls",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("n", *n),
		bench.KV("calls", *calls),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("ticker_max_late_us", bench.Fixed(maxLateUs, 1)))
}
