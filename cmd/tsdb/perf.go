package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/silverback-tsdb/tsdb/perf"
)

// perfFlags are the raw flag values of `tsdb perf`.
type perfFlags struct {
	quick                     bool
	runs                      int
	peers                     string
	results, charts, markdown string
	capture, workDir, bin     string
	compressionData           string
	commit, from              string
}

func newPerfCmd(g *globalFlags) *cobra.Command {
	var f perfFlags
	cmd := &cobra.Command{
		Use:   "perf SCENARIO...",
		Short: "Measure Silverback side by side with installed peers (VictoriaMetrics, Prometheus, InfluxDB)",
		Long: `Run benchmark scenarios against this tsdb binary and, one at a time on
127.0.0.1 with their own temporary data directories, against every peer that
is installed (victoria-metrics, prometheus, influxd on PATH, or the binaries
named by TSDB_PERF_VICTORIAMETRICS, TSDB_PERF_PROMETHEUS, TSDB_PERF_INFLUXD).
Every victoria-metrics of a distinct version (on PATH, in /usr/bin and in
GOPATH/bin, or listed in TSDB_PERF_VICTORIAMETRICS separated by ':') is its
own peer, victoriametrics-X.Y. Absent peers are skipped with the reason in
their cells.

Scenarios: ingest, compression, memory, query, restart, compaction, or all.
Systems are interleaved within each run (ours, peer, ours, peer, ...) and
tables report medians over --runs with a Silverback / peer ratio column.
Every cell is appended as a JSON line to --results; --charts draws one SVG
per scenario metric; the Markdown tables go to stdout (and --markdown).
--quick shrinks every workload to seconds (what CI runs; its figures are a
smoke test, not measurements). See PERFORMANCE.md.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.from != "" {
				return perfReport(f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			o, closeFn, err := f.options(args, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			_, err = perf.Run(ctx, o)
			return errors.Join(err, closeFn())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.quick, "quick", false, "tiny workloads, one run: seconds, for CI")
	fl.IntVar(&f.runs, "runs", 0, "runs per cell (default 3; 1 with --quick)")
	fl.StringVar(&f.peers, "peers", "all", "peers to compare: all (those installed), none, or a list of victoriametrics (every version installed), victoriametrics-X.Y, prometheus, influxdb")
	fl.StringVar(&f.results, "results", "perf-results.jsonl", "append one JSON line per cell and run here (- for none)")
	fl.StringVar(&f.charts, "charts", "", "directory for SVG charts (none when empty)")
	fl.StringVar(&f.markdown, "markdown", "", "also write the Markdown tables to this file")
	fl.StringVar(&f.capture, "capture", "", "real capture for the compression scenario (e.g. ../shared/data/node_exporter_10min.prom)")
	fl.StringVar(&f.compressionData, "compression.data", "node,capture", "data sets of the compression scenario: node (the synthetic week), capture (--capture), or both")
	fl.StringVar(&f.workDir, "work-dir", "", "where the servers' data directories go (default: a temporary directory, removed)")
	fl.StringVar(&f.bin, "bin", "", "the tsdb binary to measure (default: this one)")
	fl.StringVar(&f.commit, "commit", "", "commit recorded with the results (default: the binary's VCS revision, else the current directory's git HEAD followed by ?)")
	fl.StringVar(&f.from, "from", "", "measure nothing: print the tables (and --charts, --markdown) of SCENARIO... from this results file")
	return cmd
}

// options turns the flags into perf.Options; closeFn closes the files
// opened for them.
func (f *perfFlags) options(args []string, out, errOut io.Writer) (o perf.Options, closeFn func() error, err error) {
	var closers []io.Closer
	closeFn = func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c.Close())
		}
		return errors.Join(errs...)
	}
	o = perf.Options{Scenarios: args, Quick: f.quick, Runs: f.runs, Capture: f.capture, WorkDir: f.workDir,
		ChartDir: f.charts, Log: errOut, Commit: f.commit, Bin: f.bin}
	if f.compressionData != "node,capture" {
		o.CompressionData = strings.Split(f.compressionData, ",")
	}
	if f.runs < 0 {
		return o, closeFn, flagErr("runs", fmt.Errorf("%d: want >= 0", f.runs))
	}
	switch f.peers {
	case "all":
	case "none":
		o.Peers = []string{}
	default:
		o.Peers = strings.Split(f.peers, ",")
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return o, closeFn, fmt.Errorf("perf: own binary: %w", err)
		}
	}
	if o.Commit == "" {
		o.Commit = vcsRevision()
	}
	if o.Commit == "" {
		// Built with -buildvcs=false (this machine's GOFLAGS): the
		// checkout the command runs in, when it is one.
		if b, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
			o.Commit = strings.TrimSpace(string(b)) + "?"
		}
	}
	o.Out = out
	if f.markdown != "" {
		mf, err := os.Create(f.markdown)
		if err != nil {
			return o, closeFn, flagErr("markdown", err)
		}
		closers = append(closers, mf)
		o.Out = io.MultiWriter(out, mf)
	}
	if f.results != "-" {
		rf, err := os.OpenFile(f.results, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return o, closeFn, flagErr("results", err)
		}
		closers = append(closers, rf)
		o.Results = rf
	}
	return o, closeFn, nil
}

// perfReport prints the tables of a results file and draws its charts.
func perfReport(f perfFlags, scenarios []string, out, errOut io.Writer) error {
	rf, err := os.Open(f.from)
	if err != nil {
		return flagErr("from", err)
	}
	defer rf.Close()
	rs, err := perf.ReadResults(rf)
	if err != nil {
		return flagErr("from", err)
	}
	if f.markdown != "" {
		mf, err := os.Create(f.markdown)
		if err != nil {
			return flagErr("markdown", err)
		}
		defer mf.Close()
		out = io.MultiWriter(out, mf)
	}
	files, err := perf.Report(rs, scenarios, out, f.charts)
	for _, c := range files {
		fmt.Fprintf(errOut, "perf: chart %s\n", c)
	}
	return err
}

// vcsRevision is the commit the binary was built from ("" when unknown),
// with "+dirty" when the tree had changes.
func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
