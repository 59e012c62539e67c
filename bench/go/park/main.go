// park — W2 in Go, the counterpart of weft's examples/park.cpp.
//
// Starts --n goroutines that each block receiving from ONE shared unbuffered
// channel. Once all of them are parked, the growth of the resident set
// (/proc/self/statm) since just before the first spawn, divided by n, is
// bytes_per_parked_fiber. Then the channel is closed, which wakes every
// receiver with "closed", and main waits for all of them through a
// WaitGroup. See shared BENCHMARKS.md, W2.
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
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	settleRounds = 16
	settleMs     = 2.0
)

func main() {
	n := flag.Int64("n", 100_000, "fibers (goroutines) to park, in [1, 10000000]")
	procs := flag.Int64("procs", 0, "Ps (GOMAXPROCS), 0 = all cores, in [0, 1024]")
	flag.Parse()
	checkArgs()
	checkRange("n", *n, 1, 10_000_000)
	checkRange("procs", *procs, 0, 1024)
	setProcs(*procs)

	ch := make(chan int32) // unbuffered; nobody ever sends
	var arrived, closedSeen atomic.Int64
	var wg sync.WaitGroup

	rssBefore := currentRSSBytes()
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
	for round := 0; round < settleRounds || msSince(settle) < settleMs; round++ {
		runtime.Gosched()
	}
	rssParked := currentRSSBytes()
	parkMs := msSince(start)

	close(ch)
	wg.Wait()
	wallMs := msSince(start)

	if woken := closedSeen.Load(); woken != *n {
		fmt.Fprintf(os.Stderr, "park: FAILED: %d of %d receivers saw the channel closed\n", woken, *n)
		os.Exit(1)
	}
	if rssBefore < 0 || rssParked < 0 {
		fmt.Fprintf(os.Stderr, "park: FAILED: cannot read /proc/self/statm\n")
		os.Exit(1)
	}
	perFiber := float64(rssParked-rssBefore) / float64(*n)
	peak := peakRSSKB()
	fmt.Printf("park: %d goroutines parked on %d Ps in %.1f ms; RSS %d KiB -> %d KiB: %.0f bytes per parked goroutine\n",
		*n, runtime.GOMAXPROCS(0), parkMs, rssBefore/1024, rssParked/1024, perFiber)
	fmt.Printf("park: closed the channel, all %d woke and finished; total %.1f ms, peak RSS %d KiB\n", *n, wallMs, peak)
	jsonLine("park",
		kv{"procs", runtime.GOMAXPROCS(0)},
		kv{"n", *n},
		kv{"wall_ms", fixed(wallMs, 3)},
		kv{"bytes_per_parked_fiber", fixed(perFiber, 0)},
		kv{"rss_before_kb", rssBefore / 1024},
		kv{"rss_parked_kb", rssParked / 1024},
		kv{"peak_rss_kb", peak})
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
