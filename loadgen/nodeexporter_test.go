package loadgen

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTemplate_RealScrape(t *testing.T) {
	tmpl, err := parseTemplate(nodeExporterScrape)
	require.NoError(t, err)
	require.Len(t, tmpl, 507, "the capture's README says 507 series")
	names := map[string]bool{}
	for _, s := range tmpl {
		names[s.name] = true
	}
	require.Len(t, names, 285)
}

func TestParseSampleLine(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		nlabels int
		value   float64
		quantum float64
		wantErr bool
	}{
		{in: `up 1`, name: "up", value: 1, quantum: 1},
		{in: `a{b="c",d="e f"} 2235.65`, name: "a", nlabels: 2, value: 2235.65, quantum: 0.01},
		{in: `a{b="x\"y\\z"} 1.6777216e+07`, name: "a", nlabels: 1, value: 1.6777216e7, quantum: 1},
		{in: `a 1.5133e-05`, name: "a", value: 1.5133e-5, quantum: 1e-9},
		{in: `a{b="c"`, wantErr: true},
		{in: `a{b=c} 1`, wantErr: true},
		{in: `a notanumber`, wantErr: true},
		{in: `{b="c"} 1`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s, err := parseSampleLine(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.name, s.name)
			require.Len(t, s.labels, tc.nlabels)
			require.Equal(t, tc.value, s.value)
			require.InEpsilon(t, tc.quantum, s.quantum, 1e-9)
		})
	}
}

func TestNodeExporter_Deterministic(t *testing.T) {
	gen := func(hosts int) []Sample {
		g, err := NewNodeExporter(NodeExporterOptions{Hosts: hosts, Seed: 7})
		require.NoError(t, err)
		var out []Sample
		for range 5 {
			out = g.Next(out)
		}
		return out
	}
	a, b := gen(3), gen(3)
	require.Equal(t, a, b)
	// Adding hosts leaves the data of existing hosts unchanged.
	c := gen(4)
	per := len(a) / 5 / 3
	for k := range 5 {
		for i := range 3 * per {
			x, y := a[k*3*per+i], c[k*4*per+i]
			require.Equal(t, x.T, y.T)
			require.Equal(t, math.Float64bits(x.V), math.Float64bits(y.V))
		}
	}
}

func TestNodeExporter_Shape(t *testing.T) {
	g, err := NewNodeExporter(NodeExporterOptions{Hosts: 4, Seed: 1})
	require.NoError(t, err)
	require.Equal(t, 4*507, g.NumSeries())

	seen := map[string]bool{}
	for i := range g.NumSeries() {
		ls := g.Labels(i)
		require.NotEmpty(t, ls.Get("__name__"))
		require.NotEmpty(t, ls.Get("instance"))
		require.Equal(t, "node", ls.Get("job"))
		_, dup := ls.HasDuplicateLabelNames()
		require.False(t, dup)
		seen[ls.String()] = true
	}
	require.Len(t, seen, g.NumSeries(), "label sets must be unique")

	const scrapes = 40
	ts, vs := g.Columns(scrapes)
	var constant, rare, some, every int
	for i := range ts {
		require.Len(t, ts[i], scrapes)
		changes := 0
		for k := 1; k < scrapes; k++ {
			d := ts[i][k] - ts[i][k-1]
			require.GreaterOrEqual(t, d, int64(15000+scrapeDriftMs), "series %d sample %d", i, k)
			require.LessOrEqual(t, d, int64(15000+scrapeDriftMs+defaultJitterMs))
			if vs[i][k] != vs[i][k-1] {
				changes++
			}
		}
		switch {
		case changes == 0:
			constant++
		case changes < 10:
			rare++
		case changes < scrapes-1:
			some++
		default:
			every++
		}
	}
	// The real capture: 70% constant, 4% rare, 8% some, 17% every scrape.
	// The generator should land near that mix, not exactly on it.
	n := float64(len(ts))
	t.Logf("constant %.2f rare %.2f some %.2f every %.2f", float64(constant)/n, float64(rare)/n, float64(some)/n, float64(every)/n)
	require.InDelta(t, 0.70, float64(constant)/n, 0.08)
	require.InDelta(t, 0.17, float64(every)/n, 0.07)
	require.InDelta(t, 0.12, float64(rare+some)/n, 0.07)
}

func TestNodeExporter_CountersNeverDecrease(t *testing.T) {
	g, err := NewNodeExporter(NodeExporterOptions{Hosts: 2, Seed: 3})
	require.NoError(t, err)
	_, vs := g.Columns(100)
	for i := range g.NumSeries() {
		st := g.hosts[i/g.SeriesPerHost()].state[i%g.SeriesPerHost()]
		if !st.counter {
			continue
		}
		for k := 1; k < len(vs[i]); k++ {
			require.GreaterOrEqual(t, vs[i][k], vs[i][k-1], "counter %s", g.Labels(i))
		}
	}
}

func TestNodeExporter_BadOptions(t *testing.T) {
	_, err := NewNodeExporter(NodeExporterOptions{Hosts: -1})
	require.ErrorContains(t, err, "hosts")
	_, err = NewNodeExporter(NodeExporterOptions{Interval: time.Microsecond})
	require.ErrorContains(t, err, "interval")
}

func TestRegular(t *testing.T) {
	ts, vs := Regular(3, 10, 1000, time.Second)
	require.Len(t, ts, 3)
	for i := range ts {
		for k := 1; k < 10; k++ {
			require.Equal(t, int64(1000), ts[i][k]-ts[i][k-1])
		}
	}
	require.Equal(t, vs[0][0], vs[0][9])
	require.Equal(t, float64(9), vs[1][9])
}
