// --trace FILE: the run under Go's execution tracer (runtime/trace), the
// twin of WEFT_TRACE=FILE, so that what tracing costs can be compared in
// the same run (docs/PERFORMANCE.md, "The execution trace").

package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime/trace"
)

var traceFile = flag.String("trace", "", "write Go's execution trace of the run to this file")

var tracing *os.File

// startTrace starts the tracer if --trace was given (Parse calls it).
func startTrace() {
	if *traceFile == "" {
		return
	}
	f, err := os.Create(*traceFile)
	if err == nil {
		err = trace.Start(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: --trace: %v\n", os.Args[0], err)
		os.Exit(2)
	}
	tracing = f
}

// stopTrace ends it and closes the file (JSONLine calls it, before the
// result line every program prints last).
func stopTrace() {
	if tracing == nil {
		return
	}
	trace.Stop()
	tracing.Close()
	tracing = nil
}
