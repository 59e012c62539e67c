// binarytrees — W6 in Go, the counterpart of weft's examples/binarytrees.cpp.
//
// The Benchmarks Game binary-trees, the same work, step for step (shared
// docs/BENCHMARKS.md, W6; binarytrees.cpp's opening comment defines it
// precisely). A node is two pointers (weft's two Members); a tree of depth
// 0 is one node with no children, and check counts the nodes, so a tree of
// depth d checks 2^(d+1) - 1. With max_depth = max(6, --depth):
//  1. build a "stretch" tree of depth max_depth + 1, check it, drop it;
//  2. build a "long lived" tree of depth max_depth, kept until the end;
//  3. for every d = 4, 6, ..., max_depth: build and check
//     2^(max_depth - d + 4) trees of depth d, one after the other, summing
//     their checks, each depth in its own goroutine (all started at once);
//     main waits for all and prints their lines in depth order;
//  4. check the long lived tree.
//
// Plain allocation, as the Benchmarks Game's Go program does (no sync.Pool,
// no arena: weft has neither). The output lines are weft's, byte for byte
// (the reference output); every figure is also computed arithmetically and
// any difference exits 1.
//
// The timing window (wall_ms) covers steps 1-4, not the printing. GC
// figures are those of the window: gc_cycles completed in it (MemStats.NumGC)
// and their pauses. Go records one stop-the-world figure per cycle
// (MemStats.PauseNs: the cycle's pauses together) and keeps the last 256;
// weft records each of its pauses. So max_pause_us here is per cycle, never
// smaller than Go's single pauses, and taken over the window's last 256
// cycles should there be more; gc_pauses is the number of per-cycle figures
// (= gc_cycles); total_pause_ms is exact (MemStats.PauseTotalNs). assist_ms
// is -1: Go 1.19 does not report assist time. gc_cpu_ms is the collector's
// CPU in the window, derived from MemStats.GCCPUFraction (bench.GCCPUMs;
// idle-priority marking not included, as Go 1.19 leaves it out).
//
// JSON: workload, runtime, procs, depth, wall_ms, peak_rss_kb, gc_cycles,
// max_pause_us, gc_pauses, total_pause_ms, assist_ms, gc_cpu_ms, host_steal_ms.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"weftbench/internal/bench"
)

const minDepth = 4

type Node struct {
	left, right *Node
}

// bottomUpTree is a complete tree of the given depth (depth 0: one node).
func bottomUpTree(depth int) *Node {
	if depth <= 0 {
		return &Node{}
	}
	return &Node{bottomUpTree(depth - 1), bottomUpTree(depth - 1)}
}

// check is the tree's node count, from the links alone.
func (n *Node) check() int64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func nodesOfDepth(depth int) int64 { return int64(1)<<(depth+1) - 1 }

// line is one output line and the value its check must have had.
type line struct {
	text      string
	got, want int64
}

func main() {
	depth := bench.Int64("depth", 21, 0, 24, "max tree depth (below 6 counts as 6, as the reference does)")
	procs := bench.Procs(0)
	bench.Parse()
	bench.SetProcs(*procs)

	maxDepth := int(*depth)
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}
	stretchDepth := maxDepth + 1
	rounds := (maxDepth-minDepth)/2 + 1

	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	steal := bench.NewStealWindow()
	start := time.Now()

	// 1. The stretch tree: built, checked and dropped.
	stretchCheck := bottomUpTree(stretchDepth).check()

	// 2. The long lived tree, kept to the end.
	longLived := bottomUpTree(maxDepth)

	// 3. One goroutine per depth; each writes only its own slot, read after
	//    the WaitGroup's Wait (which orders it).
	sums := make([]int64, rounds)
	var wg sync.WaitGroup
	wg.Add(rounds)
	for r := 0; r < rounds; r++ {
		d := minDepth + 2*r
		iterations := int64(1) << (maxDepth - d + minDepth)
		go func(r, d int, iterations int64) {
			defer wg.Done()
			sum := int64(0)
			for i := int64(0); i < iterations; i++ {
				sum += bottomUpTree(d).check()
			}
			sums[r] = sum
		}(r, d, iterations)
	}
	wg.Wait()

	// 4. The long lived tree, still intact after all that garbage.
	longLivedCheck := longLived.check()
	wallMs := bench.MsSince(start)
	stealWindow := steal.ElapsedMs()

	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	cycles := int64(ms1.NumGC - ms0.NumGC)
	maxPauseNs := uint64(0)
	for c := ms0.NumGC + 1; c <= ms1.NumGC && c+256 > ms1.NumGC; c++ {
		if p := ms1.PauseNs[(c+255)%256]; p > maxPauseNs {
			maxPauseNs = p
		}
	}
	totalPauseNs := ms1.PauseTotalNs - ms0.PauseTotalNs

	lines := []line{{fmt.Sprintf("stretch tree of depth %d\t check: %d", stretchDepth, stretchCheck),
		stretchCheck, nodesOfDepth(stretchDepth)}}
	for r := 0; r < rounds; r++ {
		d := minDepth + 2*r
		iterations := int64(1) << (maxDepth - d + minDepth)
		lines = append(lines, line{fmt.Sprintf("%d\t trees of depth %d\t check: %d", iterations, d, sums[r]),
			sums[r], iterations * nodesOfDepth(d)})
	}
	lines = append(lines, line{fmt.Sprintf("long lived tree of depth %d\t check: %d", maxDepth, longLivedCheck),
		longLivedCheck, nodesOfDepth(maxDepth)})

	bad := 0
	for _, l := range lines {
		fmt.Println(l.text)
		if l.got != l.want {
			fmt.Fprintf(os.Stderr, "binarytrees: FAILED: \"%s\": the check should be %d\n", l.text, l.want)
			bad++
		}
	}
	if bad != 0 {
		fmt.Fprintf(os.Stderr, "binarytrees: FAILED: %d of %d checks are wrong (nodes lost or reused by the GC?)\n",
			bad, len(lines))
		os.Exit(1)
	}

	peak := bench.PeakRSSKB()
	maxPauseUs := float64(maxPauseNs) / 1e3
	totalPauseMs := float64(totalPauseNs) / 1e6
	fmt.Printf("binarytrees: depth %d on %d Ps in %.1f ms, checks ok; %d GC cycles (pause per cycle max %.1f us, "+
		"total %.2f ms); peak RSS %d KiB\n",
		maxDepth, runtime.GOMAXPROCS(0), wallMs, cycles, maxPauseUs, totalPauseMs, peak)
	bench.JSONLine("binarytrees",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("depth", maxDepth),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("peak_rss_kb", peak),
		bench.KV("gc_cycles", cycles),
		bench.KV("max_pause_us", bench.Fixed(maxPauseUs, 1)),
		bench.KV("gc_pauses", cycles),
		bench.KV("total_pause_ms", bench.Fixed(totalPauseMs, 3)),
		bench.KV("assist_ms", -1),
		bench.KV("gc_cpu_ms", bench.Fixed(bench.GCCPUMs(&ms1)-bench.GCCPUMs(&ms0), 1)),
		bench.KV("host_steal_ms", bench.Fixed(stealWindow, 0)))
}
