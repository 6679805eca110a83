package loadgen

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// fasthttp's idle-connection cleaner is the library's own goroutine; it
	// exits by itself seconds after HTTPTarget.Close (see HTTPTarget).
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"))
}

// TestNodeExporter_Golden pins the generator's output: every benchmark in
// the project uses it, so a change of these hashes changes their data and
// must be deliberate (update the hashes and say so in PERFORMANCE.md).
func TestNodeExporter_Golden(t *testing.T) {
	for _, tc := range []struct {
		o    NodeExporterOptions
		want string
	}{
		{NodeExporterOptions{Hosts: 3, Seed: 7}, "1002030ae0fcf00e94e208ccfccaa8486a3d3a5aabab6a9f35a81ae4e5f2f463"},
		{NodeExporterOptions{Hosts: 5, Seed: 1, JitterMs: -1}, "a9c87789158ed218d6d03fed40de78a62287d252cdceb783d175daff7f354219"},
		{NodeExporterOptions{Hosts: 2, Seed: 3, Interval: 10 * time.Second}, "9b297decb85053185629d06bb261b1f3661e694f5bfd79bf153c806263d23483"},
	} {
		g, err := NewNodeExporter(tc.o)
		require.NoError(t, err)
		h := sha256.New()
		var buf []Sample
		for range 200 {
			buf = g.Next(buf[:0])
			for _, s := range buf {
				var b [24]byte
				binary.LittleEndian.PutUint64(b[:], uint64(s.Series))
				binary.LittleEndian.PutUint64(b[8:], uint64(s.T))
				binary.LittleEndian.PutUint64(b[16:], math.Float64bits(s.V))
				h.Write(b[:])
			}
		}
		require.Equal(t, tc.want, hex.EncodeToString(h.Sum(nil)), "%+v", tc.o)
	}
}

// timedRecorder records, per payload, the wall clock at Send and the
// payload's newest sample (in-process payloads only).
type timedRecorder struct {
	recorder
	mu    sync.Mutex
	early []string // payloads sent before their newest sample's time
}

func (r *timedRecorder) Send(ctx context.Context, p *Payload) error {
	now := time.Now().UnixMilli()
	for _, s := range p.Batch.Samples {
		if s.T > now {
			r.mu.Lock()
			r.early = append(r.early, time.UnixMilli(s.T).String())
			r.mu.Unlock()
			break
		}
	}
	return r.recorder.Send(ctx, p)
}

// TestRun_PacedNode: a paced workload sends each scrape when the clock
// reaches its timestamp, never before; each host scrapes every interval.
func TestRun_PacedNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r timedRecorder
		sum, err := Run(context.Background(), Config{
			Protocol: ProtocolInProcess, Target: &r, Hosts: 3, Seed: 1, Duration: 2 * time.Minute,
		})
		require.NoError(t, err)
		require.Empty(t, r.early)
		got := decodeAll(t, &r.recorder)
		require.Len(t, got, 3*507)
		start := time.Now().Add(-2 * time.Minute).UnixMilli()
		for k, ps := range got {
			// 2 minutes of 15 s scrapes from a phase in the first interval.
			require.InDelta(t, 8, len(ps), 1, k)
			require.Less(t, ps[0].t, start+15_000, k)
			for i := 1; i < len(ps); i++ {
				d := ps[i].t - ps[i-1].t
				require.True(t, d >= 15_000+scrapeDriftMs && d <= 15_000+scrapeDriftMs+defaultJitterMs, "%s: interval %d", k, d)
			}
		}
		require.Equal(t, int64(countPoints(got)), sum.Samples)
		require.Equal(t, 3*507, sum.ActiveSeries)
		require.GreaterOrEqual(t, sum.FirstTimestampMs, start)
	})
}

// TestRun_Churn: every instance lives one churn period; at any time each
// host has one instance; new instances bring new series.
func TestRun_Churn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		const hosts, every = 4, 2 * time.Minute
		sum, err := Run(context.Background(), Config{
			Workload: WorkloadChurn, Protocol: ProtocolInProcess, Target: &r, Hosts: hosts, Seed: 2,
			ChurnEvery: every, Duration: 10 * time.Minute,
		})
		require.NoError(t, err)
		got := decodeAll(t, &r)
		type span struct{ first, last int64 }
		instances := map[string]*span{}
		for k, ps := range got {
			ls, err := labelsOf(k)
			require.NoError(t, err)
			inst := ls.Get("instance")
			sp := instances[inst]
			if sp == nil {
				sp = &span{first: math.MaxInt64, last: math.MinInt64}
				instances[inst] = sp
			}
			sp.first, sp.last = min(sp.first, ps[0].t), max(sp.last, ps[len(ps)-1].t)
		}
		// 10 minutes / 2 minutes per instance, spread: 5 or 6 per host.
		require.GreaterOrEqual(t, len(instances), hosts*5)
		require.LessOrEqual(t, len(instances), hosts*6)
		require.Equal(t, len(instances)*507, len(got), "every instance sends every series")
		perHost := map[string][]*span{}
		for inst, sp := range instances {
			require.Less(t, sp.last-sp.first, every.Milliseconds(), inst)
			host := inst[:strings.Index(inst, "-g")]
			perHost[host] = append(perHost[host], sp)
		}
		require.Len(t, perHost, hosts)
		for h, sps := range perHost {
			for i, a := range sps {
				for _, b := range sps[i+1:] {
					require.True(t, a.last < b.first || b.last < a.first, "%s: two instances at once", h)
				}
			}
		}
		require.Greater(t, sum.SeriesCreated, int64(sum.ActiveSeries))
	})
}

// labelsOf parses a labels.Labels.String() form back (test helper).
func labelsOf(s string) (labels.Labels, error) {
	b := labels.NewBuilder(labels.EmptyLabels())
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	for _, kv := range strings.Split(s, `", `) {
		k, v, _ := strings.Cut(kv, `="`)
		b.Set(k, strings.TrimSuffix(v, `"`))
	}
	return b.Labels(), nil
}

// TestRun_Backfill: the range is sent whole, unpaced, and the run ends by
// itself.
func TestRun_Backfill(t *testing.T) {
	var r recorder
	const rng = 2 * time.Hour
	sum, err := Run(context.Background(), Config{
		Workload: WorkloadBackfill, Protocol: ProtocolInProcess, Target: &r, Hosts: 2, Seed: 3,
		Start: benchStart, BackfillRange: rng,
	})
	require.NoError(t, err)
	got := decodeAll(t, &r)
	require.Len(t, got, 2*507)
	for k, ps := range got {
		require.GreaterOrEqual(t, ps[0].t, int64(benchStart), k)
		require.Less(t, ps[0].t, int64(benchStart+15_000), k)
		require.Less(t, ps[len(ps)-1].t, int64(benchStart)+rng.Milliseconds(), k)
		require.Greater(t, ps[len(ps)-1].t, int64(benchStart)+rng.Milliseconds()-16_000, k)
	}
	require.Equal(t, int64(countPoints(got)), sum.Samples)
	require.Equal(t, sum.LastTimestampMs, maxT(got))
}

func maxT(d decoded) int64 {
	var m int64
	for _, ps := range d {
		m = max(m, ps[len(ps)-1].t)
	}
	return m
}

func TestConfig_HighCardDefaults(t *testing.T) {
	c, err := Config{Workload: WorkloadHighCard, Target: &NullTarget{}}.withDefaults(benchStart)
	require.NoError(t, err)
	s, err := newShape(&c)
	require.NoError(t, err)
	require.Equal(t, HighCardHosts, c.Hosts)
	require.GreaterOrEqual(t, c.Hosts*s.numSeries(), 1_000_000)
}

func TestConfig_Errors(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, "no target"},
		{Config{Target: &NullTarget{}, Workload: "x"}, "workload"},
		{Config{Target: &NullTarget{}, Protocol: "x"}, "protocol"},
		{Config{Target: &NullTarget{}, Hosts: -1}, "hosts"},
		{Config{Target: &NullTarget{}, Interval: time.Microsecond}, "interval"},
		{Config{Target: &NullTarget{}, Rate: -1}, "rate"},
		{Config{Target: &NullTarget{}, Concurrency: -1}, "concurrency"},
		{Config{Target: &NullTarget{}, Batch: -1}, "batch"},
		{Config{Target: &NullTarget{}, Duration: -1}, "duration"},
		{Config{Target: &NullTarget{}, Workload: WorkloadReplay}, "capture"},
	} {
		_, err := tc.c.withDefaults(benchStart)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestShape_UniqueSortedLabels(t *testing.T) {
	c, err := Config{Target: &NullTarget{}}.withDefaults(benchStart)
	require.NoError(t, err)
	s, err := newShape(&c)
	require.NoError(t, err)
	h := s.newHost(7, 0)
	seen := map[string]bool{}
	var scratch []labels.Label
	for i := range s.numSeries() {
		scratch = s.fillLabels(scratch, h, i)
		ls := labels.New(scratch...)
		require.Equal(t, scratch, func() []labels.Label {
			var out []labels.Label
			ls.Range(func(l labels.Label) { out = append(out, l) })
			return out
		}(), "fillLabels returns sorted labels")
		require.Equal(t, "host-10007:9100", ls.Get("instance"))
		require.False(t, seen[ls.String()], ls.String())
		seen[ls.String()] = true
	}
}

// realCapturePath finds ../shared/data/node_exporter_10min.prom beside
// the repository (a clone's parent, or a worktree's grandparent).
func realCapturePath(t *testing.T) string {
	for _, p := range []string{
		filepath.Join("..", "..", "shared", "data", "node_exporter_10min.prom"),
		filepath.Join("..", "..", "..", "shared", "data", "node_exporter_10min.prom"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("the shared data directory is not beside the repository")
	return ""
}

// TestRun_FlushInterval: in a paced workload a request collects the
// scrapes of about one flush interval, not one host's, when the batch is
// large.
func TestRun_FlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		_, err := Run(context.Background(), Config{
			Protocol: ProtocolInProcess, Target: &r, Hosts: 60, Seed: 1, Concurrency: 1,
			Batch: 100_000, Duration: time.Minute,
		})
		require.NoError(t, err)
		total := 0
		for i, p := range r.payloads {
			lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
			for _, s := range p.Batch.Samples {
				lo, hi = min(lo, s.T), max(hi, s.T)
			}
			// 60 hosts over 15 s: one every 250 ms, so about 4 scrapes
			// per request.
			require.Less(t, hi-lo, int64(1000), "payload %d spans %d ms", i, hi-lo)
			total += p.Samples
		}
		require.Greater(t, float64(total)/float64(len(r.payloads)), 3*507.0)
	})
}

// TestRun_Histograms: with Histograms every host sends the histogram's
// 110 series beside its unchanged node series, over every protocol, and
// the bucket counts are a valid classic histogram: never decreasing in
// time, never decreasing with le.
func TestRun_Histograms(t *testing.T) {
	for _, proto := range []Protocol{ProtocolInflux, ProtocolRW1} {
		run := func(hist bool) decoded {
			var r recorder
			_, err := Run(context.Background(), Config{
				Workload: WorkloadBackfill, Protocol: proto, Target: &r, Hosts: 2, Seed: 3,
				Start: benchStart, BackfillRange: 10 * time.Minute, Histograms: hist,
			})
			require.NoError(t, err)
			return decodeAll(t, &r)
		}
		plain, with := run(false), run(true)
		require.Len(t, with, 2*(507+HistogramSeries), proto)
		for k, ps := range plain {
			require.Equal(t, ps, with[k], "%s: node series unchanged: %s", proto, k)
		}
		// bucket counts per (instance, handler) and timestamp, by le.
		type group struct{ inst, handler string }
		buckets := map[group]map[float64][]point{}
		for k, ps := range with {
			if _, ok := plain[k]; ok {
				continue
			}
			ls, err := labelsOf(k)
			require.NoError(t, err, k)
			require.Equal(t, HistogramMetric, ls.Get("__name__"), k)
			le, err := strconv.ParseFloat(ls.Get("le"), 64)
			require.NoError(t, err, k)
			g := group{ls.Get("instance"), ls.Get("handler")}
			if buckets[g] == nil {
				buckets[g] = map[float64][]point{}
			}
			buckets[g][le] = ps
			for i := 1; i < len(ps); i++ {
				require.GreaterOrEqual(t, math.Float64frombits(ps[i].v), math.Float64frombits(ps[i-1].v), k)
			}
			require.Greater(t, math.Float64frombits(ps[len(ps)-1].v), 0.0, k)
		}
		require.Len(t, buckets, 2*HistogramHandlers)
		for g, byLE := range buckets {
			require.Len(t, byLE, len(HistogramBounds())+1, g)
			les := slices.Sorted(maps.Keys(byLE))
			require.True(t, math.IsInf(les[len(les)-1], 1))
			for i := 1; i < len(les); i++ {
				lo, hi := byLE[les[i-1]], byLE[les[i]]
				require.Equal(t, len(lo), len(hi))
				for j := range lo {
					require.Equal(t, lo[j].t, hi[j].t)
					require.GreaterOrEqual(t, math.Float64frombits(hi[j].v), math.Float64frombits(lo[j].v), "%v le %v", g, les[i])
				}
			}
		}
	}
	_, err := Config{Target: &NullTarget{}, Workload: WorkloadChurn, Histograms: true}.withDefaults(benchStart)
	require.ErrorContains(t, err, "histograms")
}
