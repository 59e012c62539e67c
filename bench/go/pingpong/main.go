// pingpong — W4 in Go, the counterpart of weft's examples/pingpong.cpp.
//
// Two goroutines bounce an int over two unbuffered channels --n round trips:
// the pinger sends i on `ping` and expects i + 1 back on `pong`; the ponger
// answers every value it receives with value + 1. The pinger then closes
// `ping`; the ponger's range loop ends and it closes `pong`. --procs
// defaults to 1, as in pingpong.cpp. The channels carry int32, the C++ int.
// See docs/BENCHMARKS.md, W4.
//
// JSON: workload, runtime, procs, n, wall_ms, ns_per_roundtrip.
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
	n := bench.Int64("n", 1_000_000, 1, 1_000_000_000, "round trips")
	procs := bench.Procs(1)
	bench.Parse()
	bench.SetProcs(*procs)

	ping, pong := make(chan int32), make(chan int32) // unbuffered
	var bad int64                                    // written by the pinger, read after wg.Wait()
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(2)
	go func() {
		for i := int32(0); int64(i) < *n; i++ {
			ping <- i
			back, ok := <-pong
			if !ok || back != i+1 {
				bad++
			}
		}
		close(ping)
		if _, ok := <-pong; ok { // the ponger closes pong once ping is closed
			bad++
		}
		wg.Done()
	}()
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
		wg.Done()
	}()
	wg.Wait()
	wallMs := bench.MsSince(start)

	if bad != 0 {
		fmt.Fprintf(os.Stderr, "pingpong: FAILED: %d of %d round trips returned a wrong value\n", bad, *n)
		os.Exit(1)
	}
	nsPerRoundtrip := wallMs * 1e6 / float64(*n)
	fmt.Printf("pingpong: %d round trips on %d P(s) in %.1f ms: %.1f ns per round trip\n",
		*n, runtime.GOMAXPROCS(0), wallMs, nsPerRoundtrip)
	bench.JSONLine("pingpong",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("n", *n),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("ns_per_roundtrip", bench.Fixed(nsPerRoundtrip, 1)))
}
