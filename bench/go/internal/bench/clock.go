// Wall-clock timing of the measured windows, in milliseconds.

package bench

import "time"

// MsSince is the time elapsed since t, in milliseconds.
func MsSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }
