// Command-line flags shared by the programs: integer flags whose help
// ends in their range and which Parse checks, --procs, and exiting with
// status 2 and the same messages as weft's examples on bad arguments.

package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
)

// rangedFlag is an Int64 flag and its allowed range.
type rangedFlag struct {
	name   string
	value  *int64
	lo, hi int64
}

// ranged holds the Int64 flags in the order they were defined, the order
// Parse checks them in.
var ranged []rangedFlag

// Int64 defines the integer flag --name with help text "usage, in [lo, hi]";
// Parse checks that its value lies in [lo, hi].
func Int64(name string, value, lo, hi int64, usage string) *int64 {
	p := flag.Int64(name, value, fmt.Sprintf("%s, in [%d, %d]", usage, lo, hi))
	ranged = append(ranged, rangedFlag{name, p, lo, hi})
	return p
}

// Procs defines weft's --procs (Ps, GOMAXPROCS; 0 = all cores) with the
// given default; pass its value to SetProcs after Parse.
func Procs(value int64) *int64 {
	return Int64("procs", value, 0, 1024, "Ps (GOMAXPROCS), 0 = all cores")
}

// Parse parses the command line, rejects positional arguments and checks
// every Int64 flag's range, in the order they were defined.
func Parse() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument '%s'\n", os.Args[0], flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	for _, f := range ranged {
		if v := *f.value; v < f.lo || v > f.hi {
			fmt.Fprintf(os.Stderr, "%s: --%s: '%d' is not an integer in [%d, %d]\n", os.Args[0], f.name, v, f.lo, f.hi)
			os.Exit(2)
		}
	}
	startTrace()
}

// SetProcs is weft's --procs: GOMAXPROCS = procs, 0 meaning all cores.
func SetProcs(procs int64) {
	if procs == 0 {
		procs = int64(runtime.NumCPU())
	}
	runtime.GOMAXPROCS(int(procs))
}
