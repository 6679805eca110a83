package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// benchQuery is one of the benchmark queries of the PromQL issue, over the
// node workload's metric names and the histogram loadgen adds
// (Config.Histograms).
type benchQuery struct {
	name, expr string
	rng, step  time.Duration // rng 0: an instant query at the end
	// influxQL is the nearest InfluxQL over InfluxDB's schema of the same
	// data (measurement = metric name, field "value", labels as tags) for
	// [start, end]; "" when there is none, noInflux says why.
	influxQL func(start, end time.Time) string
	noInflux string
}

// influxTime is an InfluxQL time condition.
func influxTime(start, end time.Time) string {
	return fmt.Sprintf("time >= %dms AND time <= %dms", start.UnixMilli(), end.UnixMilli())
}

// influxRate is the InfluxQL of a per-series counter rate per window of
// step over [start, end]: spread (last - first, which is the increase of
// a counter without resets) over the window, per second. InfluxQL has no
// sliding window: a rate at step 1 h is over the whole hour, where
// PromQL's rate(x[5m]) at step 1 h reads the last 5 minutes of each hour.
func influxRate(metric string, step time.Duration, start, end time.Time) string {
	return fmt.Sprintf(`SELECT spread("value") / %d AS r FROM %q WHERE %s GROUP BY time(%s), *`,
		int64(step/time.Second), metric, influxTime(start, end), influxDuration(step))
}

func influxDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

func benchQueries(span time.Duration) []benchQuery {
	sumRate := func(step time.Duration, by string) func(start, end time.Time) string {
		return func(start, end time.Time) string {
			q := fmt.Sprintf(`SELECT sum("r") FROM (%s) WHERE %s GROUP BY time(%s)`,
				influxRate("node_cpu_seconds_total", step, start, end), influxTime(start, end), influxDuration(step))
			if by != "" {
				q += ", " + by
			}
			return q
		}
	}
	return []benchQuery{
		{"histogram_quantile(0.9, sum by (le)(rate(b[5m]))) step 5m",
			"histogram_quantile(0.9, sum by (le)(rate(" + loadgen.HistogramMetric + "[5m])))", span, 5 * time.Minute, nil,
			"InfluxQL has no histogram_quantile (nor any quantile over bucket counters; its percentile() is over raw values)"},
		{"sum(rate) step 1h", "sum(rate(node_cpu_seconds_total[5m]))", span, time.Hour, sumRate(time.Hour, ""), ""},
		{"sum(rate) step 5m", "sum(rate(node_cpu_seconds_total[5m]))", span, 5 * time.Minute, sumRate(5*time.Minute, ""), ""},
		{"rate step 5m", "rate(node_network_receive_bytes_total[5m])", span, 5 * time.Minute,
			func(start, end time.Time) string {
				return influxRate("node_network_receive_bytes_total", 5*time.Minute, start, end)
			}, ""},
		{"raw range 1h", "node_cpu_seconds_total[1h]", 0, 0,
			func(_, end time.Time) string {
				return fmt.Sprintf(`SELECT "value" FROM "node_cpu_seconds_total" WHERE %s GROUP BY *`, influxTime(end.Add(-time.Hour), end))
			}, ""},
		{"topk(10) step 5m", "topk(10, rate(node_cpu_seconds_total[5m]))", span, 5 * time.Minute,
			func(start, end time.Time) string {
				return fmt.Sprintf(`SELECT top("r", 10) FROM (%s) WHERE %s GROUP BY time(5m)`,
					influxRate("node_cpu_seconds_total", 5*time.Minute, start, end), influxTime(start, end))
			}, ""},
		{"sum by instance step 5m", "sum by (instance)(rate(node_cpu_seconds_total[5m]))", span, 5 * time.Minute,
			sumRate(5*time.Minute, `"instance"`), ""},
		{`count({__name__=~"node_.+"}) step 1h`, `count({__name__=~"node_.+"})`, span, time.Hour, nil,
			"InfluxQL aggregates within one measurement (metric name): a count of series across the ~300 node_ measurements has no equivalent"},
		{"instant sum by mode", "sum by (mode)(rate(node_cpu_seconds_total[5m]))", 0, 0,
			func(_, end time.Time) string {
				start := end.Add(-5 * time.Minute)
				return fmt.Sprintf(`SELECT sum("r") FROM (SELECT spread("value") / 300 AS r FROM "node_cpu_seconds_total" WHERE %s GROUP BY *) WHERE %s GROUP BY "mode"`,
					influxTime(start, end), influxTime(start, end))
			}, ""},
	}
}

// scenarioQuery: 2 node_exporter-like hosts (1,014 series) with a classic
// histogram each (10 handlers × 11 buckets, 220 series: 1,234 in all) over
// span, ending at a whole hour, are loaded once into a fresh server
// (queryLoad), which settles (its merges and compactions of the load end;
// Prometheus compacts promtool's blocks) and is stopped; each run then
// starts it again on that data (systems interleaved, ours first), waits
// until it is idle, and runs each benchmark query once (cold: one figure
// per run, i.e. per restart) and then warm runs times (fewer, at least
// minWarm, once a query's warm runs have taken warmBudget: the count is in
// the cell's params), over the whole span, through /api/v1/query_range
// (/api/v1/query for instant ones); InfluxDB gets the nearest InfluxQL
// (benchQuery.influxQL) on /query. Times are the client's, request to
// full body.
//
// Cold means, for every system: the first time this query is asked since
// the server started, with no query result kept from before the restart.
// VictoriaMetrics saves its caches (the rollup result cache, TSID and
// metric name caches) under <dir>/cache at a clean stop and loads them at
// start, so that directory is removed before each start (the bytes removed
// are in the cell's params); Silverback's result cache and Prometheus's
// and InfluxDB's in-memory state do not survive a restart. The OS page
// cache is not dropped (that needs root and would disturb the machine):
// every system's files were just written or read, so cold is "process
// cold", not "disk cold", alike for all. Earlier queries of the same run
// have warmed the process's own structures (postings, series) for later
// ones, in the same order for every system.
//
// Warm repeats the same request (same expression, start, end, step), so
// it is a result-cache hit where a system has one (Silverback's range
// result cache, VictoriaMetrics's rollup cache; Prometheus has none).
// Every answer's size is checked: a warm answer must have the cold one's
// series and points (else the cell fails with the reason), and a PromQL
// peer's answer is compared with Silverback's of the same run (a
// difference is in the cell's params as shape_differs and in the log).
//
// Prometheus, whose remote write refuses a week-old history, gets the
// same samples offline: promtool writes them as 2 h blocks
// (promtoolBackfill) and Prometheus compacts them (prometheusCompact)
// before the first run.
func scenarioQuery(ctx context.Context, e *env) error {
	const sc = "query"
	span, warm, warmBudget := 7*24*time.Hour, 20, 30*time.Second
	if e.o.Quick {
		span, warm, warmBudget = 6*time.Hour, 3, 5*time.Second
	}
	const minWarm = 5
	qs := benchQueries(span)
	metrics := []string{"cold", "warm median", "warm p99"}
	skipQ := func(s *System, q benchQuery, why string) {
		for _, m := range metrics {
			e.skip(sc, q.name, m, "ms", "lower", s, why)
		}
	}
	skipAll := func(s *System, why string) {
		for _, q := range qs {
			skipQ(s, q, why)
		}
	}
	// Each system's data is loaded once (its first run) and kept; every
	// run restarts the server on it, so each run's first query is cold.
	data := map[string]*queryData{}
	// shapes are Silverback's answers of the current run by query name:
	// every PromQL peer's answer should have as many series and points.
	shapes := map[string]answer{}
	for run := range e.o.Runs {
		for _, s := range e.systems {
			why, tool := "", ""
			switch {
			case s.Bin == "":
				why = s.Missing
			case !s.promQL && !s.influxQL:
				why = s.noPromQL
			case s.backfillLimit > 0 && span > s.backfillLimit:
				// Prometheus: its remote write refuses old samples, so
				// the history goes in offline, with promtool.
				var err error
				if tool, err = promtool(s.Bin); err != nil {
					why = fmt.Sprintf("%s's remote write refuses samples older than its head window (~%s), and %v",
						s.Label, s.backfillLimit, err)
				}
			}
			if why != "" {
				if run == 0 {
					skipAll(s, why)
				}
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			pd := data[s.Name]
			if pd == nil {
				if run > 0 {
					continue // its load failed or its API is missing: cells already say so
				}
				var err error
				if pd, err = e.queryLoad(ctx, s, tool, span, skipAll); err != nil {
					return err
				}
				if pd == nil {
					continue
				}
				data[s.Name] = pd
			}
			dir, end, samples := pd.dir, pd.end, pd.samples
			// Cold means the same for every system: no result of an
			// earlier query survives the restart. VictoriaMetrics saves
			// its caches (the rollup result cache among them) in
			// <dir>/cache at a clean stop and loads them at start, so that
			// directory goes; Silverback's result cache and Prometheus's
			// and InfluxDB's state are in memory only.
			removed, err := s.dropCaches(dir)
			if err != nil {
				return err
			}
			proc, err := s.Start(ctx, dir)
			if err != nil {
				return err
			}
			// Background work at start (merges, compactions, index
			// loading after ready) would be charged to the cold queries
			// of whichever system does it: let every server settle first.
			settled, _ := e.waitSettled(proc, "query start")
			for _, q := range qs {
				once := func() (answer, error) { return queryOnce(proc, q.expr, q.rng, q.step, end) }
				if !s.promQL {
					if q.influxQL == nil {
						if run == 0 {
							skipQ(s, q, q.noInflux)
						}
						continue
					}
					start := end.Add(-q.rng)
					iq := q.influxQL(start, end)
					once = func() (answer, error) { return influxQueryOnce(proc, iq) }
				}
				// A query a system fails is a cell with the reason, not
				// the end of the scenario.
				cold, err := once()
				if err == nil && cold.status != http.StatusOK {
					err = fmt.Errorf("status %d", cold.status)
				}
				var ds []float64
				var spent time.Duration
				for i := 0; err == nil && i < warm && (i < minWarm || spent < warmBudget); i++ {
					var w answer
					if w, err = once(); err == nil && w.status != http.StatusOK {
						err = fmt.Errorf("status %d", w.status)
					}
					if err == nil && (w.series != cold.series || w.points != cold.points) {
						err = fmt.Errorf("warm answer of %d series, %d points differs from the cold one (%d, %d)", w.series, w.points, cold.series, cold.points)
					}
					ds = append(ds, w.d.Seconds()*1e3)
					spent += w.d
				}
				if err != nil {
					skipQ(s, q, fmt.Sprintf("failed: %v", err))
					e.logf("query run %d %s %s: %v", run, s.Label, q.name, err)
					continue
				}
				params := map[string]any{"series": 2 * (507 + loadgen.HistogramSeries), "samples": samples, "span": span.String(), "warm_runs": len(ds),
					"end": end.UTC().Format(time.RFC3339), "result_series": cold.series, "result_points": cold.points,
					"settled_s": settled.Seconds()}
				if removed >= 0 {
					params["cache_bytes_removed"] = removed
				}
				if tool != "" {
					params["loaded_by"] = "promtool tsdb create-blocks-from openmetrics, 2 h blocks, compacted by Prometheus before the runs"
				}
				if !s.promQL {
					params["influxql"] = q.influxQL(end.Add(-q.rng), end)
				} else if s == e.ours {
					shapes[q.name] = cold
				} else if o, ok := shapes[q.name]; ok && (o.series != cold.series || o.points != cold.points) {
					params["shape_differs"] = fmt.Sprintf("%d series, %d points against Silverback's %d, %d", cold.series, cold.points, o.series, o.points)
					e.logf("query run %d %s %s: answer of %d series, %d points; Silverback's had %d, %d", run, s.Label, q.name,
						cold.series, cold.points, o.series, o.points)
				}
				e.cell(sc, q.name, "cold", "ms", "lower", s, run, cold.d.Seconds()*1e3, params)
				e.cell(sc, q.name, "warm median", "ms", "lower", s, run, median(ds), params)
				e.cell(sc, q.name, "warm p99", "ms", "lower", s, run, quantile(ds, 0.99), params)
				e.logf("query run %d %s %s: cold %.1f ms, warm median %.1f ms (%d runs), %d series, %d points", run, s.Label, q.name,
					cold.d.Seconds()*1e3, median(ds), len(ds), cold.series, cold.points)
			}
			if err := proc.Stop(); err != nil {
				return err
			}
		}
	}
	return nil
}

// queryData is one system's loaded data directory of the query scenario.
type queryData struct {
	dir     string
	end     time.Time // the data ends an hour before the load started
	samples int64
}

// queryLoad loads the query scenario's data (2 hosts with histograms over
// span) into a fresh directory for s — as 2 h blocks written offline by
// promtool when tool is set, else over HTTP — checks that s answers its
// query API (nil and every cell skipped with the reason when it does not)
// and leaves the server stopped.
func (e *env) queryLoad(ctx context.Context, s *System, tool string, span time.Duration, skipAll func(*System, string)) (*queryData, error) {
	dir := e.newDir(s.Name)
	// The end is a whole hour, a multiple of every step: VictoriaMetrics
	// aligns a range query's start and end to its step (for its cache),
	// so any other end gives it a grid one step off the others'.
	end := e.o.Now().Add(-time.Hour).Truncate(time.Hour)
	cfg := loadgen.Config{Workload: loadgen.WorkloadBackfill, Hosts: 2, Seed: 1,
		Start: end.Add(-span).UnixMilli(), BackfillRange: span, Concurrency: 1, Histograms: true}
	pd := &queryData{dir: dir, end: end}
	if tool != "" {
		n, blocks, err := promtoolBackfill(ctx, tool, dir, cfg, 2*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("%s: promtool backfill: %w", s.Name, err)
		}
		pd.samples = n
		e.logf("query %s: %d samples written offline by promtool into %d blocks", s.Label, n, blocks)
		// Prometheus compacts those blocks a minute after its first start:
		// left to the measured runs, that compaction would share the cores
		// with its queries. The others' background work on load is done
		// before their stop below, so Prometheus's is done here.
		if _, err := prometheusCompact(ctx, s, dir); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	proc, err := s.Start(ctx, dir)
	if err != nil {
		return nil, err
	}
	// Is the query API there at all? (Silverback's lands with the PromQL
	// issues; until then the endpoint answers 404.)
	if s.promQL {
		if a, err := queryOnce(proc, "up", time.Hour, time.Minute, time.Now()); a.status != http.StatusOK {
			proc.Kill()
			why := fmt.Sprintf("%s on this build answers %d on /api/v1/query_range", s.Label, a.status)
			if a.status == http.StatusNotFound {
				why += ": the PromQL HTTP API (issues 13/15) is not in it"
			} else if err != nil {
				why += ": " + err.Error()
			}
			skipAll(s, why)
			return nil, nil
		}
	}
	if tool == "" {
		c := cfg
		c.Protocol, _ = protocolFor(s, loadgen.ProtocolRW1, loadgen.ProtocolInflux)
		// One connection: no host runs ahead into a head window already
		// cut.
		if s.Family == "influxdb" {
			// Line protocol (its own schema, what InfluxQL is for), and 4
			// connections: it has no head window, and one connection
			// takes it minutes more.
			c.Protocol, c.Concurrency = loadgen.ProtocolInflux, 4
		}
		sum, err := e.load(ctx, proc, c)
		if err != nil {
			proc.Kill()
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		pd.samples = sum.Samples
	}
	if s.Family == "influxdb" {
		// Its cache snapshot and compaction run once writes stop (2 s and
		// 5 s cold): let them end before the restart.
		waitIdle(proc.CPU, 7*time.Second, time.Second, 2*time.Minute)
	} else if tool == "" {
		// Merges and compactions of what was loaded end before the stop.
		e.waitSettled(proc, "query load")
	}
	if err := proc.Stop(); err != nil {
		return nil, err
	}
	return pd, nil
}

// timedGet GETs pathQuery from p and returns the status, the time to the
// whole answer and its body (status 0 when no answer came).
func timedGet(p *Proc, pathQuery string) (int, time.Duration, []byte, error) {
	t0 := time.Now()
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Get(p.URL(pathQuery))
	if err != nil {
		return 0, 0, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(t0), b, err
}

// answer is what one query returned: the status, the time from request
// to the whole body, and the size of the result (series and points: a
// matrix's values, an instant vector's or scalar's one point per series),
// so that systems asked the same question can be checked to have given
// answers of the same shape.
type answer struct {
	status         int
	d              time.Duration
	series, points int
}

// influxQueryOnce runs an InfluxQL query on InfluxDB's /query (database
// perf); an error in the answer (InfluxDB reports them with status 200)
// is an error.
func influxQueryOnce(p *Proc, q string) (answer, error) {
	v := url.Values{"db": {"perf"}, "q": {q}, "epoch": {"ms"}}
	status, d, b, err := timedGet(p, "/query?"+v.Encode())
	a := answer{status: status, d: d}
	if err != nil {
		return a, err
	}
	var ans struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values []json.RawMessage `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return a, fmt.Errorf("answer is not JSON: %.200s", b)
	}
	if ans.Error != "" {
		return a, errors.New(ans.Error)
	}
	for _, r := range ans.Results {
		if r.Error != "" {
			return a, errors.New(r.Error)
		}
		if len(r.Series) == 0 {
			return a, fmt.Errorf("no series in the answer to %s", q)
		}
		for _, s := range r.Series {
			a.series++
			a.points += len(s.Values)
		}
	}
	return a, nil
}

// queryOnce runs expr as a range query over [end-rng, end] at step (an
// instant query at end when rng is 0). A non-success status with a body
// in the API's error format is an error; 404 is not (the caller says the
// API is missing).
func queryOnce(p *Proc, expr string, rng, step time.Duration, end time.Time) (answer, error) {
	v := url.Values{"query": {expr}}
	path := "/api/v1/query"
	sec := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	if rng > 0 {
		path = "/api/v1/query_range"
		v.Set("start", sec(end.Add(-rng)))
		v.Set("end", sec(end))
		v.Set("step", strconv.FormatInt(int64(step/time.Second), 10))
	} else {
		v.Set("time", sec(end))
	}
	status, d, b, err := timedGet(p, path+"?"+v.Encode())
	a := answer{status: status, d: d}
	if err != nil {
		return a, err
	}
	if status == http.StatusOK {
		if a.series, a.points, err = resultSize(b); err != nil {
			return a, err
		}
	} else if status != http.StatusNotFound {
		return a, fmt.Errorf("%.300s", b)
	}
	return a, nil
}

// resultSize returns the series and points of a Prometheus API answer
// (status success; a matrix counts its values, a vector one point per
// series, a scalar or string one of each).
func resultSize(b []byte) (series, points int, err error) {
	var ans struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &ans); err != nil || ans.Status != "success" {
		return 0, 0, fmt.Errorf("answer is not a success: %.200s", b)
	}
	switch ans.Data.ResultType {
	case "matrix", "vector":
		var rs []struct {
			Values []json.RawMessage `json:"values"`
			Value  json.RawMessage   `json:"value"`
		}
		if err := json.Unmarshal(ans.Data.Result, &rs); err != nil {
			return 0, 0, fmt.Errorf("%s result: %w", ans.Data.ResultType, err)
		}
		for _, r := range rs {
			series++
			if ans.Data.ResultType == "matrix" {
				points += len(r.Values)
			} else {
				points++
			}
		}
	case "scalar", "string":
		series, points = 1, 1
	default:
		return 0, 0, fmt.Errorf("unknown result type %q: %.200s", ans.Data.ResultType, b)
	}
	return series, points, nil
}
