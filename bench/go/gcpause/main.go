// gcpause — W7 in Go, the counterpart of weft's examples/gcpause.cpp.
//
// The same work, step for step (docs/BENCHMARKS.md, W7; gcpause.cpp's
// opening comment defines it precisely):
//  1. the live set: K = ceil(live_mb x 2^20 / (511 x 32)) complete binary
//     trees of depth 8 (511 nodes; a node is two pointers and a uint64,
//     every value derived from its parent's by mix), in one []*Node (as
//     weft's chunks of Member slots), built by one goroutine per P over
//     disjoint slots, slot i from seed mix(0x5eed, i);
//  2. --idle goroutines, each filling a 4 KiB array on its stack (512
//     words, word j = mix(id, j)) and allocating one Node it keeps only on
//     its stack, then blocking on one shared unbuffered channel;
//  3. --mutators goroutines, each with its own xorshift64* generator
//     seeded as weft's (mix(m, 99) | 1), replacing the subtree in a random
//     slot with a new one from a random seed for --seconds, every such
//     operation timed;
//  4. then the channel is closed, every idle goroutine checks its array and
//     node, one full collection runs, and every subtree is checked; any
//     damage exits 1.
//
// Pauses: Go records one stop-the-world figure per cycle (MemStats.PauseNs:
// the cycle's pauses together), read for the cycles completed in the
// window; weft records each of its pauses. So max_pause_us and
// p99_pause_us here are per cycle, never smaller than Go's single pauses.
// assist_ms is -1: Go 1.19 does not report assist time. gc_cpu_ms is the
// collector's CPU in the window, derived from MemStats.GCCPUFraction
// (bench.GCCPUMs; idle-priority marking not included, as Go 1.19 leaves
// it out).
//
// JSON: workload, runtime, procs, live_mb, idle, mutators, seconds, subtrees,
// wall_ms, build_ms, max_pause_us, p99_pause_us, gc_pauses, gc_cycles,
// mutator_ops_per_s, max_op_us, p99_op_us, assist_ms, gc_cpu_ms, peak_rss_kb,
// host_steal_ms.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"weftbench/internal/bench"
)

const (
	depth        = 8
	subtreeNodes = 1<<(depth+1) - 1 // 511
	nodeBytes    = 32               // what W7 counts a node as (weft: 24 + header)
	idleWords    = 512              // 4 KiB of each idle goroutine's stack
)

type Node struct {
	left, right *Node
	value       uint64
}

// mix is splitmix64's output step applied to x + (k + 1) x golden ratio.
func mix(x, k uint64) uint64 {
	x += 0x9e3779b97f4a7c15 * (k + 1)
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng is xorshift64*, seeded as weft's Rng.
type rng struct{ s uint64 }

func newRng(seed uint64) rng { return rng{mix(seed, 99) | 1} }

func (r *rng) next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 0x2545f4914f6cdd1d
}

func build(value uint64, d int) *Node {
	n := &Node{value: value}
	if d > 0 {
		n.left = build(mix(value, 1), d-1)
		n.right = build(mix(value, 2), d-1)
	}
	return n
}

func intact(n *Node, value uint64, d int) bool {
	if n == nil || n.value != value {
		return false
	}
	if d == 0 {
		return n.left == nil && n.right == nil
	}
	return intact(n.left, mix(value, 1), d-1) && intact(n.right, mix(value, 2), d-1)
}

// idle fills its stack array, keeps one node on its stack, parks on
// release, and reports whether both are unchanged when release closes.
//
//go:noinline
func idle(id uint64, release <-chan int, parked *int64) bool {
	var frame [idleWords]uint64
	for j := range frame {
		frame[j] = mix(id, uint64(j))
	}
	own := &Node{value: mix(id, idleWords)}
	atomic.AddInt64(parked, 1)
	_, open := <-release
	ok := !open && own.value == mix(id, idleWords)
	for j := range frame {
		ok = ok && frame[j] == mix(id, uint64(j))
	}
	return ok
}

// quantile is the q-quantile (0 < q <= 1) by the nearest-rank method.
func quantile(v []int64, q float64) int64 {
	if len(v) == 0 {
		return 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	rank := int(q*float64(len(v)) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(v) {
		rank = len(v)
	}
	return v[rank-1]
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

func main() {
	liveMB := bench.Int64("live-mb", 512, 1, 65536, "live heap, MB of 32-byte nodes")
	idleN := bench.Int64("idle", 10000, 0, 10_000_000, "idle goroutines, each with 4 KiB of stack in use")
	mutators := bench.Int64("mutators", 2, 1, 1024, "goroutines replacing random subtrees")
	seconds := bench.Int64("seconds", 10, 1, 3600, "length of the mutator phase")
	procs := bench.Procs(0)
	bench.Parse()
	bench.SetProcs(*procs)

	total := time.Now()
	const subtreeBytes = subtreeNodes * nodeBytes
	k := (*liveMB*(1<<20) + subtreeBytes - 1) / subtreeBytes

	// 1. The live set.
	table := make([]*Node, k)
	builders := int64(runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for b := int64(0); b < builders; b++ {
		wg.Add(1)
		go func(b int64) {
			defer wg.Done()
			for i := b; i < k; i += builders {
				table[i] = build(mix(0x5eed, uint64(i)), depth)
			}
		}(b)
	}
	wg.Wait()
	buildMs := bench.MsSince(total)

	// 2. The idle goroutines.
	release := make(chan int)
	var parked, idleBad int64
	var idleWg sync.WaitGroup
	for i := int64(0); i < *idleN; i++ {
		idleWg.Add(1)
		go func(id uint64) {
			defer idleWg.Done()
			if !idle(id, release, &parked) {
				atomic.AddInt64(&idleBad, 1)
			}
		}(uint64(i))
	}
	for atomic.LoadInt64(&parked) < *idleN {
		runtime.Gosched()
	}
	settle := time.Now()
	for round := 0; round < 16 || time.Since(settle) < 2*time.Millisecond; round++ {
		runtime.Gosched()
	}

	// 3. The window.
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	steal := bench.NewStealWindow()
	var stop int32
	opNs := make([][]int64, *mutators)
	var mutWg sync.WaitGroup
	window := time.Now()
	for m := int64(0); m < *mutators; m++ {
		mutWg.Add(1)
		go func(m int64) {
			defer mutWg.Done()
			r := newRng(uint64(m))
			ops := make([]int64, 0, 1<<20)
			for atomic.LoadInt32(&stop) == 0 {
				t0 := time.Now()
				slot := r.next() % uint64(k)
				table[slot] = build(r.next(), depth)
				ops = append(ops, int64(time.Since(t0)))
			}
			opNs[m] = ops
		}(m)
	}
	time.Sleep(time.Duration(*seconds) * time.Second)
	atomic.StoreInt32(&stop, 1)
	mutWg.Wait()
	windowS := time.Since(window).Seconds()
	stealWindow := steal.ElapsedMs()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	cycles := int64(ms1.NumGC - ms0.NumGC)
	var pauses []int64
	for c := ms0.NumGC + 1; c <= ms1.NumGC && c+256 > ms1.NumGC; c++ {
		pauses = append(pauses, int64(ms1.PauseNs[(c+255)%256]))
	}

	// 4. Release, collect, verify.
	close(release)
	idleWg.Wait()
	runtime.GC()
	damaged := int64(0)
	for i, root := range table {
		if root != nil && intact(root, root.value, depth) {
			continue
		}
		if damaged++; damaged <= 5 {
			fmt.Fprintf(os.Stderr, "gcpause: FAILED: subtree in slot %d is damaged or missing\n", i)
		}
	}
	wallMs := bench.MsSince(total)
	if damaged != 0 || idleBad != 0 {
		fmt.Fprintf(os.Stderr, "gcpause: FAILED: %d of %d subtrees damaged or missing, %d of %d idle goroutines "+
			"found their stack array or node changed\n", damaged, k, idleBad, *idleN)
		os.Exit(1)
	}

	var all []int64
	for _, o := range opNs {
		all = append(all, o...)
	}
	ops := int64(len(all))
	maxOp, maxPause := int64(0), int64(0)
	for _, v := range all {
		if v > maxOp {
			maxOp = v
		}
	}
	for _, v := range pauses {
		if v > maxPause {
			maxPause = v
		}
	}
	p99Op := quantile(all, 0.99)
	p99Pause := quantile(pauses, 0.99)
	opsPerS := float64(ops) / windowS
	peak := bench.PeakRSSKB()

	fmt.Printf("gcpause: live set of %d subtrees x %d nodes (%d MB at %d B/node) built in %.0f ms; %d idle "+
		"goroutines parked\n", k, subtreeNodes, *liveMB, nodeBytes, buildMs, *idleN)
	fmt.Printf("gcpause: %d mutators on %d Ps for %.2f s: %d ops (%.0f/s), op p99 %.1f us, max %.1f us\n",
		*mutators, runtime.GOMAXPROCS(0), windowS, ops, opsPerS, us(p99Op), us(maxOp))
	fmt.Printf("gcpause: %d GC cycles: pause per cycle p99 %.1f us, max %.1f us; peak RSS %d KiB; every subtree "+
		"and idle goroutine checked\n", cycles, us(p99Pause), us(maxPause), peak)
	bench.JSONLine("gcpause",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("live_mb", *liveMB),
		bench.KV("idle", *idleN),
		bench.KV("mutators", *mutators),
		bench.KV("seconds", *seconds),
		bench.KV("subtrees", k),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("build_ms", bench.Fixed(buildMs, 1)),
		bench.KV("max_pause_us", bench.Fixed(us(maxPause), 1)),
		bench.KV("p99_pause_us", bench.Fixed(us(p99Pause), 1)),
		bench.KV("gc_pauses", len(pauses)),
		bench.KV("gc_cycles", cycles),
		bench.KV("mutator_ops_per_s", bench.Fixed(opsPerS, 0)),
		bench.KV("max_op_us", bench.Fixed(us(maxOp), 1)),
		bench.KV("p99_op_us", bench.Fixed(us(p99Op), 1)),
		bench.KV("assist_ms", -1),
		bench.KV("gc_cpu_ms", bench.Fixed(bench.GCCPUMs(&ms1)-bench.GCCPUMs(&ms0), 1)),
		bench.KV("peak_rss_kb", peak),
		bench.KV("host_steal_ms", bench.Fixed(stealWindow, 0)))
}
