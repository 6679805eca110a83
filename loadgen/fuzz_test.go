package loadgen

import (
	"testing"
)

// FuzzParseCapture: any input is either refused or parses into a capture
// whose invariants hold (scrapes strictly increasing in time, dense value
// table, values of any repetition computable). Seeds in
// testdata/fuzz/FuzzParseCapture.
func FuzzParseCapture(f *testing.F) {
	f.Add(smallCapture)
	f.Add("a 1 1000\nb 1 1000\na 2 2000\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := parseCapture(in)
		if err != nil {
			return
		}
		if len(c.times) == 0 || len(c.series) == 0 {
			t.Fatal("empty capture accepted")
		}
		for k := 1; k < len(c.times); k++ {
			if c.times[k] <= c.times[k-1] {
				t.Fatalf("scrape %d at %d not after %d", k, c.times[k], c.times[k-1])
			}
		}
		if len(c.vals) != len(c.times)*len(c.series) || len(c.counters) != len(c.series) {
			t.Fatal("value table has the wrong size")
		}
		for k := range c.times {
			for i := range c.series {
				for rep := range 3 {
					_ = c.value(k, rep, i)
				}
			}
		}
	})
}
