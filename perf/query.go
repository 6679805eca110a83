package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// benchQuery is one of the benchmark queries of the PromQL issue, over the
// node workload's metric names.
type benchQuery struct {
	name, expr string
	rng, step  time.Duration // rng 0: an instant query at the end
}

func benchQueries(span time.Duration) []benchQuery {
	return []benchQuery{
		{"sum(rate) step 1h", "sum(rate(node_cpu_seconds_total[5m]))", span, time.Hour},
		{"sum(rate) step 5m", "sum(rate(node_cpu_seconds_total[5m]))", span, 5 * time.Minute},
		{"rate step 5m", "rate(node_network_receive_bytes_total[5m])", span, 5 * time.Minute},
		{"raw range 1h", "node_cpu_seconds_total[1h]", 0, 0},
		{"topk(10) step 5m", "topk(10, rate(node_cpu_seconds_total[5m]))", span, 5 * time.Minute},
		{"sum by instance step 5m", "sum by (instance)(rate(node_cpu_seconds_total[5m]))", span, 5 * time.Minute},
		{`count({__name__=~"node_.+"}) step 1h`, `count({__name__=~"node_.+"})`, span, time.Hour},
		{"instant sum by mode", "sum by (mode)(rate(node_cpu_seconds_total[5m]))", 0, 0},
	}
}

// scenarioQuery: 2 node_exporter-like hosts (1,014 series) over span are
// loaded into a fresh server, which is then restarted; each benchmark query
// runs once right after the restart (cold) and then warm runs times, over
// the whole span, through /api/v1/query_range (/api/v1/query for instant
// ones). Times are the client's, request to full body.
func scenarioQuery(ctx context.Context, e *env) error {
	const sc = "query"
	span, warm := 7*24*time.Hour, 20
	if e.o.Quick {
		span, warm = 6*time.Hour, 3
	}
	qs := benchQueries(span)
	metrics := []string{"cold", "warm median", "warm p99"}
	skipAll := func(s *System, why string) {
		for _, q := range qs {
			for _, m := range metrics {
				e.skip(sc, q.name, m, "ms", "lower", s, why)
			}
		}
	}
	e.skip(sc, "histogram_quantile(0.9, sum by (le)(rate(b[5m])))", "cold", "ms", "lower", e.ours,
		"the node workload has no histogram (node_exporter exposes none)")
	for run := range e.o.Runs {
		for _, s := range e.systems {
			if run == 0 {
				switch {
				case s.Bin == "":
					skipAll(s, s.Missing)
					continue
				case !s.promQL:
					skipAll(s, s.noPromQL)
					continue
				case s.backfillLimit > 0 && span > s.backfillLimit:
					skipAll(s, fmt.Sprintf("%s's remote write refuses samples older than its head window (~%s): a %s history needs offline backfill",
						s.Label, s.backfillLimit, fmtSpan(span)))
					continue
				}
			} else if s.Bin == "" || !s.promQL || s.backfillLimit > 0 && span > s.backfillLimit {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			dir := e.newDir(s.Name)
			proc, err := s.Start(ctx, dir)
			if err != nil {
				return err
			}
			// Is the query API there at all? (Silverback's lands with the
			// PromQL issues; until then the endpoint answers 404.)
			if code, _, err := queryOnce(proc, "up", time.Hour, time.Minute, time.Now()); code != http.StatusOK {
				proc.Kill()
				if run == 0 {
					why := fmt.Sprintf("%s on this build answers %d on /api/v1/query_range", s.Label, code)
					if code == http.StatusNotFound {
						why += ": the PromQL HTTP API (issues 13/15) is not in it"
					} else if err != nil {
						why += ": " + err.Error()
					}
					skipAll(s, why)
				}
				continue
			}
			p, _ := protocolFor(s, loadgen.ProtocolRW1, loadgen.ProtocolInflux)
			end := e.o.Now().Add(-time.Hour).Truncate(time.Minute)
			sum, err := e.load(ctx, proc, loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: p, Hosts: 2, Seed: 1,
				Start: end.Add(-span).UnixMilli(), BackfillRange: span, Concurrency: 1})
			if err != nil {
				proc.Kill()
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			if err := proc.Stop(); err != nil {
				return err
			}
			if proc, err = s.Start(ctx, dir); err != nil {
				return err
			}
			params := map[string]any{"series": 2 * 507, "samples": sum.Samples, "span": span.String(), "warm_runs": warm}
			for _, q := range qs {
				// A query a system fails is a cell with the reason, not
				// the end of the scenario.
				code, d, err := queryOnce(proc, q.expr, q.rng, q.step, end)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d", code)
				}
				var ds []float64
				for i := 0; err == nil && i < warm; i++ {
					var w time.Duration
					if code, w, err = queryOnce(proc, q.expr, q.rng, q.step, end); err == nil && code != http.StatusOK {
						err = fmt.Errorf("status %d", code)
					}
					ds = append(ds, w.Seconds()*1e3)
				}
				if err != nil {
					for _, m := range metrics {
						e.skip(sc, q.name, m, "ms", "lower", s, fmt.Sprintf("failed: %v", err))
					}
					e.logf("query run %d %s %s: %v", run, s.Label, q.name, err)
					continue
				}
				e.cell(sc, q.name, "cold", "ms", "lower", s, run, d.Seconds()*1e3, params)
				e.cell(sc, q.name, "warm median", "ms", "lower", s, run, median(ds), params)
				e.cell(sc, q.name, "warm p99", "ms", "lower", s, run, quantile(ds, 0.99), params)
				e.logf("query run %d %s %s: cold %.1f ms, warm median %.1f ms", run, s.Label, q.name, d.Seconds()*1e3, median(ds))
			}
			if err := proc.Stop(); err != nil {
				return err
			}
		}
	}
	return nil
}

// queryOnce runs expr as a range query over [end-rng, end] at step (an
// instant query at end when rng is 0) and returns the status and the time
// to the whole answer. A non-success status with a body in the API's
// error format is an error.
func queryOnce(p *Proc, expr string, rng, step time.Duration, end time.Time) (int, time.Duration, error) {
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
	t0 := time.Now()
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Get(p.URL(path + "?" + v.Encode()))
	if err != nil {
		return 0, 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return resp.StatusCode, d, err
	}
	if resp.StatusCode == http.StatusOK {
		var ans struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(b, &ans); err != nil || ans.Status != "success" {
			return resp.StatusCode, d, fmt.Errorf("answer is not a success: %.200s", b)
		}
	} else if resp.StatusCode != http.StatusNotFound {
		return resp.StatusCode, d, fmt.Errorf("%.300s", b)
	}
	return resp.StatusCode, d, nil
}
