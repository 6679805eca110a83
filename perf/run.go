package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
)

// Scenarios are the scenario names in the order `all` runs them.
var Scenarios = []string{"ingest", "compression", "memory", "query", "restart", "compaction"}

// Options configure Run.
type Options struct {
	// Scenarios to run (names of Scenarios, or "all").
	Scenarios []string
	// Quick shrinks every workload so that all scenarios run in seconds
	// (CI); the figures are then only a smoke test of the harness.
	Quick bool
	// Runs is how often each cell is measured (default 3; 1 when Quick);
	// systems are interleaved within each run (ours, peer, ours, peer …).
	Runs int
	// Bin is the tsdb binary to measure (required).
	Bin string
	// Peers selects peers by family ("victoriametrics", "prometheus",
	// "influxdb") or name ("victoriametrics-1.151"); nil means every
	// installed one, an empty non-nil slice none.
	Peers []string
	// Capture is the real capture the compression scenario ingests (""
	// skips that case).
	Capture string
	// CompressionData selects the compression scenario's data sets by
	// name: "node" (the synthetic week) and "capture" (the real capture);
	// nil means both.
	CompressionData []string
	// WorkDir holds the servers' data directories (default a temporary
	// directory, removed at the end).
	WorkDir string
	// Results receives one JSON line per cell and run (nil: none).
	Results io.Writer
	// Out receives the Markdown tables; Log progress lines (both may be
	// nil).
	Out, Log io.Writer
	// ChartDir, when set, receives one SVG chart per scenario metric.
	ChartDir string
	// Commit is recorded with every result.
	Commit string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// env is what a scenario runs with.
type env struct {
	o       Options
	ours    *System
	systems []*System // ours first, then the selected peers (present or not)
	rec     *recorder
	work    string
	dirs    int
	capture *loadgen.Capture
}

func (e *env) logf(format string, args ...any) {
	if e.o.Log != nil {
		fmt.Fprintf(e.o.Log, "perf: "+format+"\n", args...)
	}
}

// newDir returns a fresh, not yet existing data directory.
func (e *env) newDir(sys string) string {
	e.dirs++
	return filepath.Join(e.work, fmt.Sprintf("%03d-%s", e.dirs, sys))
}

// cell records a measured value.
func (e *env) cell(scenario, cs, metric, unit, better string, s *System, run int, v float64, params map[string]any) {
	e.rec.add(Result{
		Time: e.o.Now().UTC().Format(time.RFC3339), Commit: e.o.Commit, Quick: e.o.Quick,
		Scenario: scenario, Case: cs, Metric: metric, Unit: unit, Better: better,
		System: s.Name, Label: s.Label, Run: run, Value: v, Params: params, Load1: load1(),
	})
}

// load1 is the 1-minute load average (0 when /proc/loadavg is not
// readable).
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// skip records a cell a system cannot fill, with the reason.
func (e *env) skip(scenario, cs, metric, unit, better string, s *System, why string) {
	e.rec.add(Result{
		Time: e.o.Now().UTC().Format(time.RFC3339), Commit: e.o.Commit, Quick: e.o.Quick,
		Scenario: scenario, Case: cs, Metric: metric, Unit: unit, Better: better,
		System: s.Name, Label: s.Label, Skipped: why,
	})
}

// Run runs the scenarios and returns every result; the tables go to
// o.Out, the charts to o.ChartDir. A scenario's failure is reported and
// the next one runs; the errors are joined.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Bin == "" {
		return nil, errors.New("perf: no tsdb binary")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Runs <= 0 {
		o.Runs = 3
		if o.Quick {
			o.Runs = 1
		}
	}
	var names []string
	for _, s := range o.Scenarios {
		if s == "all" {
			names = append(names, Scenarios...)
			continue
		}
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("perf: unknown scenario %q (want %s or all)", s, strings.Join(Scenarios, ", "))
		}
		names = append(names, s)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("perf: no scenario (want %s or all)", strings.Join(Scenarios, ", "))
	}
	all := Systems(o.Bin)
	e := &env{o: o, ours: all[0], systems: all[:1], rec: &recorder{w: o.Results}}
	for _, p := range all[1:] {
		if o.Peers != nil && !slices.Contains(o.Peers, p.Name) && !slices.Contains(o.Peers, p.Family) {
			continue
		}
		e.systems = append(e.systems, p)
		if p.Bin == "" {
			e.logf("peer %s skipped: %s", p.Name, p.Missing)
		} else {
			e.logf("peer %s: %s", p.Label, p.Bin)
		}
	}
	for _, d := range o.CompressionData {
		if d != "node" && d != "capture" {
			return nil, fmt.Errorf("perf: unknown compression data set %q (want node, capture)", d)
		}
	}
	for _, p := range o.Peers {
		if !slices.ContainsFunc(all[1:], func(s *System) bool { return s.Name == p || s.Family == p }) {
			return nil, fmt.Errorf("perf: unknown peer %q (want victoriametrics (every version installed), victoriametrics-X.Y, prometheus, influxdb)", p)
		}
	}
	e.work = o.WorkDir
	if e.work == "" {
		d, err := os.MkdirTemp("", "tsdb-perf-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		e.work = d
	}
	if o.Capture != "" {
		var err error
		if e.capture, err = loadgen.ReadCaptureFile(o.Capture); err != nil {
			return nil, fmt.Errorf("perf: %w", err)
		}
	}
	var errs []error
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		e.logf("scenario %s (%d runs%s)", n, o.Runs, map[bool]string{true: ", quick"}[o.Quick])
		t0 := time.Now()
		if err := scenarioFuncs[n](ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("perf: %s: %w", n, err))
			e.logf("scenario %s failed: %v", n, err)
		}
		e.logf("scenario %s took %s", n, time.Since(t0).Round(time.Millisecond))
	}
	res := e.rec.results()
	for _, t := range Tables(res) {
		if o.Out != nil {
			t.Markdown(o.Out)
		}
		if o.ChartDir != "" {
			files, err := t.Charts(o.ChartDir)
			if err != nil {
				errs = append(errs, err)
			}
			for _, f := range files {
				e.logf("chart %s", f)
			}
		}
	}
	if e.rec.err != nil {
		errs = append(errs, fmt.Errorf("perf: results file: %w", e.rec.err))
	}
	return res, errors.Join(errs...)
}

var scenarioFuncs = map[string]func(context.Context, *env) error{
	"ingest":      scenarioIngest,
	"compression": scenarioCompression,
	"memory":      scenarioMemory,
	"query":       scenarioQuery,
	"restart":     scenarioRestart,
	"compaction":  scenarioCompaction,
}

// settle is how long a server gets to finish background work (flushes)
// before its CPU is read: VictoriaMetrics acknowledges before it persists.
func (e *env) settle() time.Duration {
	if e.o.Quick {
		return 200 * time.Millisecond
	}
	return 3 * time.Second
}

// load drives p with the loadgen configuration c (target and protocol
// filled here) and returns the summary; failed samples are an error.
func (e *env) load(ctx context.Context, p *Proc, c loadgen.Config) (loadgen.Summary, error) {
	path, ok := p.Sys.ingest[c.Protocol]
	if !ok {
		return loadgen.Summary{}, fmt.Errorf("%s does not ingest %s", p.Sys.Name, c.Protocol)
	}
	t, err := loadgen.NewHTTPTarget(loadgen.HTTPOptions{
		URL: p.URL(path), Protocol: c.Protocol, Timeout: 2 * time.Minute, MetricsURL: "-",
	})
	if err != nil {
		return loadgen.Summary{}, err
	}
	defer t.Close()
	c.Target = t
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Batch == 0 {
		c.Batch = 5000
	}
	c.Retries = 3
	sum, err := loadgen.Run(ctx, c)
	if err != nil {
		return sum, err
	}
	if err := ctx.Err(); err != nil {
		return sum, err // stopped: a partial load is no measurement
	}
	if sum.SamplesFailed > 0 {
		return sum, fmt.Errorf("%s refused %d of %d samples: %s", p.Sys.Name, sum.SamplesFailed, sum.SamplesFailed+sum.Samples, sum.FirstError)
	}
	return sum, nil
}

// protocolFor returns the first protocol of prefs the system ingests.
func protocolFor(s *System, prefs ...loadgen.Protocol) (loadgen.Protocol, bool) {
	for _, p := range prefs {
		if ok, _ := s.Supports(p); ok {
			return p, true
		}
	}
	return "", false
}

const mb = 1 << 20

// waitSettled waits, as waitIdle, until p's CPU has fallen to idle after a
// phase (at least settle, windows of 1 s, at most a minute; a fifth of
// that when quick) and logs how long it took.
func (e *env) waitSettled(p *Proc, what string) (time.Duration, bool) {
	window, limit := time.Second, time.Minute
	if e.o.Quick {
		window, limit = 100*time.Millisecond, 2*time.Second
	}
	d, ok := waitIdle(p.CPU, e.settle(), window, limit)
	if !ok {
		e.logf("%s %s: still busy after %s (CPU above %.0f %% of a core)", p.Sys.Label, what, d.Round(time.Millisecond), idleCPU*100)
	}
	return d, ok
}
