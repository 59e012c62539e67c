// The collector's CPU time, derived from MemStats.GCCPUFraction: Go 1.19
// reports no GC CPU time as such.

package bench

import (
	"runtime"
	"time"
)

// Stands for the runtime's start, which GCCPUFraction counts from:
// package initialization runs at most a few milliseconds after it.
var processStart = time.Now()

// GCCPUMs is the CPU time, in ms, the collector had used by the end of the
// last cycle ms reports: GCCPUFraction is that time over the CPU time the
// program had from the runtime's start to that cycle's end (LastGC) at
// GOMAXPROCS CPUs. It counts stop-the-world phases, dedicated and
// fractional mark workers and assists, not idle-priority marking (Go
// 1.19 leaves that out as free). The difference of two is a window's.
func GCCPUMs(ms *runtime.MemStats) float64 {
	if ms.NumGC == 0 {
		return 0
	}
	elapsedMs := float64(int64(ms.LastGC)-processStart.UnixNano()) / 1e6
	return ms.GCCPUFraction * elapsedMs * float64(runtime.GOMAXPROCS(0))
}
