package httpfast

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// heldRoutes is a Storage that can hand out routes looked up earlier: a
// parser that looked a key up just before the shard dropped its series
// (the one case ErrStaleRoute is left for, and a race in production).
type heldRoutes struct {
	*pipeline.DB
	mu     sync.Mutex
	record bool
	held   map[string]stages.Route // recorded hits; served while replay
	replay bool
}

func (h *heldRoutes) LookupHinted(key []byte, hint *stages.RouteHint) (stages.Route, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.replay {
		if rt, ok := h.held[string(key)]; ok {
			delete(h.held, string(key)) // once: the retry is a new lookup
			return rt, true
		}
	}
	rt, ok := h.DB.LookupHinted(key, hint)
	if ok && h.record {
		h.held[string(key)] = rt
	}
	return rt, ok
}

// shardNames returns metric names whose series (no other labels) live,
// of 2 shards, stale and tick in one, kept in the other.
func shardNames(t *testing.T) (stale, tick, kept string) {
	t.Helper()
	shardOf := func(name string) int {
		h, _ := stages.HashLabels(nil, labels.FromStrings("__name__", name))
		return stages.ShardOf(h, 2)
	}
	stale = "stale"
	for i := 1; i < 100 && (tick == "" || kept == ""); i++ {
		n := fmt.Sprintf("other_%d", i)
		switch {
		case shardOf(n) == shardOf(stale) && tick == "":
			tick = n
		case shardOf(n) != shardOf(stale) && kept == "":
			kept = n
		}
	}
	require.NotEmpty(t, tick)
	require.NotEmpty(t, kept)
	return stale, tick, kept
}

// TestIngest_StaleRouteRetryNeverRejectsStored: a request whose series
// are in two shards, one of them routed by a route whose series was
// dropped meanwhile (ErrStaleRoute). The other shard stores its part. The
// server completes the request itself (the refused series again, with
// labels), so no client retry ever sees the stored samples again: with
// or without reject-late, over both protocols that take cached routes, it
// answers 204 and every sample is stored once. Failed before (503, and
// the client's retry answered 400 out_of_order for stored samples with
// reject-late).
func TestIngest_StaleRouteRetryNeverRejectsStored(t *testing.T) {
	staleName, tickName, keptName := shardNames(t)
	for _, rejectLate := range []bool{false, true} {
		for _, proto := range []string{"influx", "rw1", "rw2", "text"} {
			t.Run(fmt.Sprintf("reject_late=%v/proto=%s", rejectLate, proto), func(t *testing.T) {
				db, err := pipeline.Open(t.TempDir(), pipeline.Options{Shards: 2, WAL: walseg.Options{Sync: walseg.SyncNone},
					HeadGCInterval: -1, IdleSeriesTimeout: time.Millisecond, RejectLate: rejectLate})
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, db.Close()) })
				st := &heldRoutes{DB: db, held: map[string]stages.Route{}}
				ts := startTestServer(t, st)
				t0 := testNow.Add(-10 * time.Minute).UnixMilli()
				post := func(samples map[string][]int64) resp {
					t.Helper()
					var ls []labels.Labels
					var ts2 [][]int64
					var v2 [][]writev2.Sample
					var body []byte
					for _, name := range []string{staleName, tickName, keptName} {
						if len(samples[name]) == 0 {
							continue
						}
						ls = append(ls, labels.FromStrings("__name__", name))
						ts2 = append(ts2, samples[name])
						var ss []writev2.Sample
						for _, tm := range samples[name] {
							ss = append(ss, writev2.Sample{Timestamp: tm, Value: float64(tm)})
							if proto == "text" {
								body = fmt.Appendf(body, "%s %d %d\n", name, tm, tm)
							} else {
								body = fmt.Appendf(body, "%s value=%d %d\n", name, tm, tm)
							}
						}
						v2 = append(v2, ss)
					}
					switch proto {
					case "rw1":
						return ts.post("/api/v1/write", snappyBytes(remoteV1Multi(t, ls, ts2)), "Content-Type", ctV1)
					case "rw2":
						return ts.post("/api/v1/write", snappyBytes(rwV2(t, ls, v2, nil)), "Content-Type", ctV2)
					case "text":
						return ts.post("/api/v1/import/prometheus", body)
					}
					return ts.post("/write?precision=ms", body)
				}
				// The series learnt, then looked up again; the route of
				// staleName is held.
				r := post(map[string][]int64{staleName: {t0}, tickName: {t0}, keptName: {t0}})
				require.Equal(t, 204, r.code, r.body)
				st.record = true
				r = post(map[string][]int64{staleName: {t0 + 30_000}, tickName: {t0 + 60_000}, keptName: {t0 + 60_000}})
				require.Equal(t, 204, r.code, r.body)
				st.record = false
				require.Len(t, st.held, 3)
				st.held = map[string]stages.Route{string(heldKey(st, proto, staleName)): st.held[string(heldKey(st, proto, staleName))]}
				// A forced head cut persists everything; the idle series
				// (staleName: its last sample is behind its shard's
				// newest, tickName's) leaves the head, its ref freed and
				// forgotten.
				require.NoError(t, db.Compact(context.Background(), true))
				_, ok := db.Lookup(heldKey(st, proto, staleName))
				require.False(t, ok, "the dropped series' route is forgotten")

				st.replay = true
				t1 := t0 + 120_000
				second := map[string][]int64{staleName: {t1, t1 + 1000}, keptName: {t1, t1 + 1000}}
				r = post(second)
				require.Empty(t, st.held, "the stale route was used")
				// Answered at once: a 503 would make the client retry the
				// whole body, and with reject_late the samples the other
				// shard stored would come back as out_of_order (400).
				require.Equal(t, 204, r.code, r.body)
				got := readAll(t, db)
				require.Equal(t, []sample{{t0, float64(t0)}, {t0 + 30_000, float64(t0 + 30_000)}, {t1, float64(t1)}, {t1 + 1000, float64(t1 + 1000)}},
					got[labels.FromStrings("__name__", staleName).String()])
				require.Equal(t, []sample{{t0, float64(t0)}, {t0 + 60_000, float64(t0 + 60_000)}, {t1, float64(t1)}, {t1 + 1000, float64(t1 + 1000)}},
					got[labels.FromStrings("__name__", keptName).String()])
			})
		}
	}
}

// heldKey is the route-cache key the protocol's parser used for the
// series named name without other labels: the held key that contains the
// name (the test's names do not contain each other).
func heldKey(st *heldRoutes, _ string, name string) []byte {
	for k := range st.held {
		if strings.Contains(k, name) {
			return []byte(k)
		}
	}
	return nil
}

// remoteV1Multi is a remote write 1.0 body with the samples ts[i] (value
// = timestamp) for series ls[i].
func remoteV1Multi(t testing.TB, ls []labels.Labels, ts [][]int64) []byte {
	var series []prompb.TimeSeries
	for i, l := range ls {
		var s prompb.TimeSeries
		l.Range(func(lb labels.Label) { s.Labels = append(s.Labels, prompb.Label{Name: lb.Name, Value: lb.Value}) })
		for _, tm := range ts[i] {
			s.Samples = append(s.Samples, prompb.Sample{Timestamp: tm, Value: float64(tm)})
		}
		series = append(series, s)
	}
	return rwV1(t, series...)
}

// TestIngest_LabelsOfKeyMatchParser: the labels appendRefused rebuilds
// from a raw key are the ones the parser builds for that series on a
// cache miss (escapes, tags, the db label, field names, remote-write
// label order).
func TestIngest_LabelsOfKeyMatchParser(t *testing.T) {
	type seen struct {
		key  []byte
		lset labels.Labels
	}
	var got []seen
	store := &funcStore{append: func(_ context.Context, b *stages.Batch) (stages.AppendStats, error) {
		for _, s := range b.Series {
			got = append(got, seen{key: append([]byte(nil), s.Key...), lset: s.Labels})
		}
		return stages.AppendStats{Appended: len(b.Samples)}, nil
	}}
	ts := startTestServer(t, store, func(o *Options) { o.InfluxDBLabel = "db" })
	r := ts.post("/write?db=mydb&precision=s", []byte(
		"cpu,host=a,region=eu\\ west usage=1,idle=2 1\n"+
			"m\\,x,t\\=k=v\\=w value=3 1\n"+
			"9lives,a=b f=1 1\n"))
	require.Equal(t, 204, r.code, r.body)
	r = ts.post("/write?precision=s", []byte("nodb,z=1 value=1 1\n"))
	require.Equal(t, 204, r.code, r.body)
	body := remoteV1Multi(t, []labels.Labels{
		labels.FromStrings("__name__", "up", "job", "node", "instance", "h:9100"),
		labels.FromStrings("__name__", "x", "a", ""),
	}, [][]int64{{1000}, {1000}})
	r = ts.post("/api/v1/write", snappyBytes(body), "Content-Type", ctV1)
	require.Equal(t, 204, r.code, r.body)
	body = rwV2(t, []labels.Labels{labels.FromStrings("__name__", "v2", "job", "x", "zone", "b")},
		[][]writev2.Sample{{{Value: 1, Timestamp: 1000}}}, nil)
	r = ts.post("/api/v1/write", snappyBytes(body), "Content-Type", ctV2)
	require.Equal(t, 204, r.code, r.body)
	// A text key leaves out the request's extra labels: appendRefused
	// runs within the request, with ing.tx holding them (set below as
	// this request had them).
	r = ts.post("/api/v1/import/prometheus?extra_label=env=prod", []byte(
		"text_metric{path=\"/a \\\"b\\\"\",code=\"200\"} 1 1000\nplain 2 1000\n"))
	require.Equal(t, 204, r.code, r.body)
	require.Len(t, got, 10)

	ing := ts.s.getIngester(context.Background(), ts.s.pmInflux)
	defer ts.s.putIngester(ing)
	ing.tx.extra = [][2][]byte{{[]byte("env"), []byte("prod")}} // the text request's
	for _, g := range got {
		require.False(t, g.lset.IsEmpty(), "a miss carries labels: %q", g.key)
		ing.b.Reset()
		ing.b.AddSeries(labels.EmptyLabels(), g.key)
		require.True(t, ing.labelsOfKey(g.key), "key %q", g.key)
		require.Equal(t, g.lset.String(), ing.b.Series[0].Labels.String(), "key %q", g.key)
	}
	ing.b.Reset()
	ing.b.AddSeries(labels.EmptyLabels(), []byte("Tsomething"))
	require.False(t, ing.labelsOfKey([]byte("Tsomething")), "a protocol without a key decoder")
	require.False(t, ing.labelsOfKey([]byte{keyInflux, 1, 0x7f}), "a truncated key")
}
