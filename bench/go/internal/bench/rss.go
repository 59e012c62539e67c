// Resident set size, measured as weft's examples/common/rss.cpp does: the
// current RSS from /proc/self/statm and the peak from getrusage.

package bench

import (
	"fmt"
	"os"
	"syscall"
)

// CurrentRSSBytes reads the resident set from /proc/self/statm (pages); -1
// if it cannot be read.
func CurrentRSSBytes() int64 {
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

// PeakRSSKB is getrusage's ru_maxrss (KiB on Linux), or the current RSS if
// that is higher (the kernel updates the high-water mark lazily).
func PeakRSSKB() int64 {
	var ru syscall.Rusage
	peak := int64(-1)
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		peak = ru.Maxrss
	}
	if now := CurrentRSSBytes() / 1024; now > peak {
		return now
	}
	return peak
}
