// Host steal time over a measured window, as weft's examples/common/steal.hpp:
// the CPU time the hypervisor took from the machine (all CPUs), which shows
// when a run's outliers came from outside the program.

package bench

import (
	"os"
	"strconv"
	"strings"
)

// StealWindow measures the steal time from its creation.
type StealWindow struct{ start float64 }

// NewStealWindow starts a window now.
func NewStealWindow() StealWindow { return StealWindow{start: stealMs()} }

// ElapsedMs is the steal time since the window started, in ms, or -1 where
// /proc/stat does not give it.
func (w StealWindow) ElapsedMs() float64 {
	now := stealMs()
	if w.start < 0 || now < 0 {
		return -1
	}
	return now - w.start
}

// stealMs is the machine's steal time so far (/proc/stat's "cpu" line, the
// eighth figure, in USER_HZ = 100 ticks per second), or -1.
func stealMs() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	ticks, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		return -1
	}
	return float64(ticks) * 10
}
