// The result line every program prints last: one JSON object in the weft
// examples' format, plus "runtime": "go", with floats at fixed decimals.

package bench

import (
	"fmt"
	"os"
	"strings"
)

// Field is one "key": value pair of the result line.
type Field struct {
	key   string
	value interface{}
}

// KV is the field "key": value, value printed with %v (or as Fixed says).
func KV(key string, value interface{}) Field { return Field{key, value} }

// FixedFloat is a float printed with a fixed number of decimals.
type FixedFloat struct {
	v        float64
	decimals int
}

// Fixed makes v print with exactly decimals decimals when used as a KV value.
func Fixed(v float64, decimals int) FixedFloat { return FixedFloat{v, decimals} }

// JSONLine prints {"workload": workload, "runtime": "go", fields...} on one
// line to stdout, fields in the order given.
func JSONLine(workload string, fields ...Field) {
	stopTrace()
	var b strings.Builder
	fmt.Fprintf(&b, "{\"workload\": %q, \"runtime\": \"go\"", workload)
	for _, p := range fields {
		switch v := p.value.(type) {
		case FixedFloat:
			fmt.Fprintf(&b, ", %q: %.*f", p.key, v.decimals, v.v)
		default:
			fmt.Fprintf(&b, ", %q: %v", p.key, v)
		}
	}
	b.WriteString("}\n")
	os.Stdout.WriteString(b.String())
}
