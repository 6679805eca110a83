package loadgen

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// smallCapture has three scrapes 10 s apart of a counter (decimal values),
// a gauge and a "_total" series that decreases (so it is not a counter).
const smallCapture = `# TYPE c_total counter
c_total{a="x",instance="real:9100"} 10 1000000
g 1 1000000
d_total 5 1000000
c_total{a="x",instance="real:9100"} 12.5 1010000
g 2 1010000
d_total 4 1010000

c_total{a="x",instance="real:9100"} 15 1020000
g 1 1020000
d_total 6 1020000
`

func TestParseCapture(t *testing.T) {
	c, err := ParseCapture(strings.NewReader(smallCapture))
	require.NoError(t, err)
	require.Equal(t, 3, c.Series())
	require.Equal(t, 3, c.Scrapes())
	require.Equal(t, int64(20000), c.Span())
	require.Equal(t, int64(30000), c.period, "span plus the mean interval")
	require.Nil(t, c.present)
	require.Equal(t, "exported_instance", c.series[0].labels[1].Name, "the capture's instance is renamed")
	require.Equal(t, counterDecimal, c.counters[0].kind)
	require.Equal(t, notCounter, c.counters[1].kind)
	require.Equal(t, notCounter, c.counters[2].kind, "a decreasing _total series is not a counter")
	// Repetition 1 continues the counter: +7.5 (5 over the capture plus
	// one mean step of 2.5), exactly.
	require.Equal(t, 17.5, c.value(0, 1, 0))
	require.Equal(t, 22.5, c.value(2, 1, 0))
	require.Equal(t, 25.0, c.value(0, 2, 0))
	require.Equal(t, 1.0, c.value(0, 3, 1), "gauges repeat")
}

func TestParseCapture_Errors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no samples"},
		{"# only a comment\n", "no samples"},
		{"a 1\n", "line 1: no timestamp"},
		{"a 1 x\n", "line 1: timestamp"},
		{"a 1 2000\na 1 1000\n", "line 2: timestamp 1000 before"},
		{"a 1 1000\nb 1 1000\na 2 1000\n", "line 3: series a twice"},
		{"a{b=\"c\" 1 1000\n", "line 1:"},
		{"a 1 1000 7\n", "line 1: unexpected"},
		{"a{b=\"1\",b=\"2\"} 1 1000\n", "label \"b\" twice"},
		{"a{__name__=\"x\"} 1 1000\n", "__name__"},
	} {
		_, err := ParseCapture(strings.NewReader(tc.in))
		require.ErrorContains(t, err, tc.want, "input %q", tc.in)
	}
}

// TestParseCapture_Sparse: series missing from some scrapes are marked
// absent, and replay skips them.
func TestParseCapture_Sparse(t *testing.T) {
	c, err := parseCapture("a 1 1000\nb 1 1000\na 2 2000\n")
	require.NoError(t, err)
	require.NotNil(t, c.present)
	require.True(t, c.has(1, 0))
	require.False(t, c.has(1, 1))
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in string
		m  int64
		e  int
		ok bool
	}{
		{"2235.65", 223565, 2, true},
		{"1.6777216e+07", 16777216, 0, true},
		{"1.5133e-05", 15133, 9, true},
		{"28318", 28318, 0, true},
		{"-3.5", -35, 1, true},
		{"1e10", 10000000000, 0, true},
		{"NaN", 0, 0, false},
		{"+Inf", 0, 0, false},
		{"12345678901234567890", 0, 0, false},
		{"1e300", 0, 0, false},
	} {
		m, e, ok := parseDecimal(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		if ok {
			require.Equal(t, tc.m, m, tc.in)
			require.Equal(t, tc.e, e, tc.in)
		}
	}
}

// TestRun_Replay: each host replays the capture from its own starting
// scrape, re-timed to the run's start with the capture's intervals, and
// keeps counters rising across repetitions.
func TestRun_Replay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := parseCapture(smallCapture)
		require.NoError(t, err)
		var r recorder
		_, err = Run(context.Background(), Config{
			Workload: WorkloadReplay, Capture: c, Protocol: ProtocolInProcess, Target: &r,
			Hosts: 2, Seed: 1, Interval: 10 * time.Second, Duration: 2 * time.Minute,
		})
		require.NoError(t, err)
		got := decodeAll(t, &r)
		require.Len(t, got, 2*3)
		for k, ps := range got {
			require.InDelta(t, 12, len(ps), 1, k)
			for i := 1; i < len(ps); i++ {
				require.Equal(t, int64(10_000), ps[i].t-ps[i-1].t, "%s: the capture's interval", k)
			}
		}
		c0 := got[`{__name__="c_total", a="x", exported_instance="real:9100", instance="host-10000:9100", job="replay"}`]
		require.NotEmpty(t, c0)
		for i, want := range []float64{10, 12.5, 15, 17.5, 20, 22.5, 25} {
			require.Equal(t, want, math.Float64frombits(c0[i].v))
		}
		// Host 1 starts at the capture's second scrape.
		c1 := got[`{__name__="c_total", a="x", exported_instance="real:9100", instance="host-10001:9100", job="replay"}`]
		require.Equal(t, 12.5, math.Float64frombits(c1[0].v))
		g0 := got[`{__name__="g", instance="host-10000:9100", job="replay"}`]
		require.Equal(t, 1.0, math.Float64frombits(g0[3].v), "gauges repeat")
	})
}

// TestParseCapture_RealData parses the shared 10-minute node_exporter
// capture: 40 scrapes of 507 series, about 15 s apart.
func TestParseCapture_RealData(t *testing.T) {
	f, err := os.Open(realCapturePath(t))
	require.NoError(t, err)
	defer f.Close()
	c, err := ParseCapture(f)
	require.NoError(t, err)
	require.Equal(t, 507, c.Series())
	require.Equal(t, 40, c.Scrapes())
	require.Nil(t, c.present)
	require.InDelta(t, 40*15_030, c.period, 40*30)
	counters := 0
	for _, cc := range c.counters {
		if cc.kind != notCounter {
			counters++
		}
	}
	t.Logf("%d of %d series continue as counters across repetitions", counters, c.Series())
	require.Greater(t, counters, 20)
}

// TestWire_ReplaySparse replays a capture in which a series is missing
// from one scrape through every protocol: the encoders skip it there, and
// every request's Samples matches what it carries.
func TestWire_ReplaySparse(t *testing.T) {
	c, err := parseCapture("a_total 1 1000\nb 7 1000\na_total 2 2000\na_total 3 3000\nb 8 3000\n")
	require.NoError(t, err)
	for _, p := range Protocols {
		t.Run("protocol="+string(p), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var r recorder
				_, err := Run(context.Background(), Config{
					Workload: WorkloadReplay, Capture: c, Protocol: p, Target: &r, Hosts: 1,
					Interval: time.Second, Duration: 10 * time.Second, Start: benchStart,
				})
				require.NoError(t, err)
				got := decodeAll(t, &r)
				a := got[`{__name__="a_total", instance="host-10000:9100", job="replay"}`]
				b := got[`{__name__="b", instance="host-10000:9100", job="replay"}`]
				require.NotEmpty(t, a)
				require.Less(t, len(b), len(a))
				require.Greater(t, len(b), 0)
			})
		})
	}
}

// TestRun_ReplayUnpaced: an unpaced replay sends the range at once (no
// wall-clock waits: it ends in real time far below the 10 minutes it
// covers) with the same timestamps a paced one would carry.
func TestRun_ReplayUnpaced(t *testing.T) {
	c, err := parseCapture(smallCapture)
	require.NoError(t, err)
	var r recorder
	t0 := time.Now()
	sum, err := Run(context.Background(), Config{
		Workload: WorkloadReplay, Capture: c, Protocol: ProtocolInProcess, Target: &r,
		Hosts: 2, Seed: 1, Interval: 10 * time.Second, Unpaced: true, BackfillRange: 10 * time.Minute,
		Start: 1767225600000,
	})
	require.NoError(t, err)
	require.Less(t, time.Since(t0), time.Minute)
	got := decodeAll(t, &r)
	require.Len(t, got, 2*3)
	for k, ps := range got {
		require.InDelta(t, 60, len(ps), 1, k)
		require.GreaterOrEqual(t, ps[0].t, int64(1767225600000), k)
		require.Less(t, ps[len(ps)-1].t, int64(1767225600000+600_000), k)
		for i := 1; i < len(ps); i++ {
			require.Equal(t, int64(10_000), ps[i].t-ps[i-1].t, k)
		}
	}
	require.Equal(t, int64(countPoints(got)), sum.Samples)
}
