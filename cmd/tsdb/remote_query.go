package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

func newQueryCmd() *cobra.Command {
	var (
		rf                     remoteFlags
		at, start, end, stepS  string
		output                 string
		lookback, queryTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "query [flags] EXPR",
		Short: "Evaluate a PromQL expression on a running server",
		Long: `Evaluate EXPR at --time (default now), or over --start..--end every --step
when any of those is given (defaults -1h, now, 1m):

  tsdb query 'up'
  tsdb query 'rate(http_requests_total[5m])' --start -1h --end now --step 1m
  tsdb query 'sum by (job) (up)' -o json

-o table (default) prints aligned columns for people; json prints the
server's answer as is (Prometheus's shape); csv prints one row per sample
with a column per label. Warnings go to stderr. Exit codes: 0 ok, 2 usage,
3 the server refused the query (bad_data, execution), 4 unreachable,
timeout or failing.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "table", "json", "csv":
			default:
				return usagef("-o: %q (want table, json or csv)", output)
			}
			now := time.Now()
			isRange := cmd.Flags().Changed("start") || cmd.Flags().Changed("end") || cmd.Flags().Changed("step")
			if isRange && cmd.Flags().Changed("time") {
				return usagef("--time is for an instant query; --start, --end and --step for a range query: give one or the other")
			}
			v := url.Values{"query": {args[0]}}
			path := "/api/v1/query"
			if isRange {
				s, err := parseWhen("start", start, now)
				if err != nil {
					return err
				}
				e, err := parseWhen("end", end, now)
				if err != nil {
					return err
				}
				step, err := parseStep(stepS)
				if err != nil {
					return err
				}
				path = "/api/v1/query_range"
				v.Set("start", formatUnix(s))
				v.Set("end", formatUnix(e))
				v.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
			} else if at != "" {
				t, err := parseWhen("time", at, now)
				if err != nil {
					return err
				}
				v.Set("time", formatUnix(t))
			}
			if lookback > 0 {
				v.Set("lookback_delta", strconv.FormatFloat(lookback.Seconds(), 'f', -1, 64))
			}
			if queryTimeout > 0 {
				v.Set("timeout", strconv.FormatFloat(queryTimeout.Seconds(), 'f', -1, 64))
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			ctx, cancel := rf.context(cmd)
			defer cancel()
			raw, err := c.Raw(ctx, path, v)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				_, err := fmt.Fprintln(out, strings.TrimSpace(string(raw)))
				return err
			}
			res, err := client.DecodeResult(raw)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if output == "csv" {
				return writeCSV(out, res)
			}
			return writeTable(out, res)
		},
	}
	addRemoteFlags(cmd, &rf)
	f := cmd.Flags()
	f.StringVar(&at, "time", "", "evaluation time of an instant query (now, -5m, unix seconds, RFC 3339)")
	f.StringVar(&start, "start", "-1h", "start of a range query")
	f.StringVar(&end, "end", "now", "end of a range query")
	f.StringVar(&stepS, "step", "1m", "resolution of a range query (duration or seconds)")
	f.StringVarP(&output, "output", "o", "table", "output: table, json or csv")
	f.DurationVar(&lookback, "lookback-delta", 0, "lookback of instant selectors (server default 5m)")
	f.DurationVar(&queryTimeout, "query-timeout", 0, "evaluation timeout sent to the server (server default 2m)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json", "csv"))
	return cmd
}

func formatUnix(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func formatSeries(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		if k != "__name__" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(m["__name__"])
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func formatTS(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

// writeTable prints a result in aligned columns.
func writeTable(w io.Writer, r *client.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch r.Type {
	case client.TypeScalar:
		fmt.Fprintln(tw, "TIMESTAMP\tVALUE")
		fmt.Fprintf(tw, "%s\t%s\n", formatTS(r.Scalar.T), formatValue(r.Scalar.V))
	case client.TypeString:
		fmt.Fprintln(tw, "TIMESTAMP\tSTRING")
		fmt.Fprintf(tw, "%s\t%s\n", formatTS(r.Scalar.T), r.String)
	case client.TypeVector:
		fmt.Fprintln(tw, "SERIES\tTIMESTAMP\tVALUE")
		for _, s := range r.Vector {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", formatSeries(s.Metric), formatTS(s.T), formatValue(s.V))
		}
	case client.TypeMatrix:
		fmt.Fprintln(tw, "SERIES\tTIMESTAMP\tVALUE")
		for _, s := range r.Matrix {
			name := formatSeries(s.Metric)
			for _, p := range s.Points {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", name, formatTS(p.T), formatValue(p.V))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if (r.Type == client.TypeVector && len(r.Vector) == 0) || (r.Type == client.TypeMatrix && len(r.Matrix) == 0) {
		_, err := fmt.Fprintln(w, "(no data)")
		return err
	}
	return nil
}

// writeCSV prints one row per sample: a column per label, then the
// timestamp (ms) and the value.
func writeCSV(w io.Writer, r *client.Result) error {
	cw := csv.NewWriter(w)
	type row struct {
		m map[string]string
		p client.Point
	}
	var rows []row
	switch r.Type {
	case client.TypeScalar, client.TypeString:
		_ = cw.Write([]string{"timestamp", "value"})
		v := formatValue(r.Scalar.V)
		if r.Type == client.TypeString {
			v = r.String
		}
		_ = cw.Write([]string{strconv.FormatInt(r.Scalar.T, 10), v})
		cw.Flush()
		return cw.Error()
	case client.TypeVector:
		for _, s := range r.Vector {
			rows = append(rows, row{s.Metric, s.Point})
		}
	case client.TypeMatrix:
		for _, s := range r.Matrix {
			for _, p := range s.Points {
				rows = append(rows, row{s.Metric, p})
			}
		}
	}
	set := map[string]bool{}
	for _, r := range rows {
		for k := range r.m {
			set[k] = true
		}
	}
	var names []string
	for k := range set {
		names = append(names, k)
	}
	slices.Sort(names)
	_ = cw.Write(append(slices.Clone(names), "timestamp", "value"))
	for _, r := range rows {
		rec := make([]string, 0, len(names)+2)
		for _, k := range names {
			rec = append(rec, r.m[k])
		}
		rec = append(rec, strconv.FormatInt(r.p.T, 10), formatValue(r.p.V))
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

func newImportCmd() *cobra.Command {
	var (
		rf                        remoteFlags
		file, format, csvSpec, pr string
		batch                     string
		progress                  string
	)
	cmd := &cobra.Command{
		Use:   "import --file F [--format prom|influx|csv|jsonl] [flags]",
		Short: "Import a file into a running server, in batches, with progress",
		Long: `Send --file (or "-" for stdin) to the server at --addr, cut into batches
of --batch-size at line boundaries. Formats: prom (text exposition with ms
timestamps; the default), influx (line protocol, --precision), csv (needs
--csv-format, the column spec of /api/v1/import/csv), jsonl (what 'tsdb
export' writes: a round trip is bit-exact).

On a terminal, files over 4 MiB show a progress bar on stderr (bytes and
lines per second); --progress=always|never overrides. A summary goes to
stderr at the end. Stops at the first batch the server refuses and says
which input lines it held. Exit codes: 0 ok, 1 cannot read the file, 2
usage, 3 refused, 4 unreachable or failing.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := client.ParseFormat(format)
			if err != nil {
				return usageError{fmt.Errorf("--format: %w", err)}
			}
			if f == client.FormatCSV && csvSpec == "" {
				return usagef("--csv-format is required for --format csv")
			}
			bs, err := parseSize(batch)
			if err != nil || bs <= 0 || bs > 64<<20 {
				return usagef("--batch-size: %q (want a size up to 64MiB)", batch)
			}
			if file == "" {
				return usagef("--file is required (\"-\" for stdin)")
			}
			var in io.Reader = cmd.InOrStdin()
			var size int64 = -1
			if file != "-" {
				fh, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("open --file: %w", err)
				}
				defer fh.Close()
				if st, err := fh.Stat(); err == nil {
					size = st.Size()
				}
				in = fh
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			ctx, cancel := rf.context(cmd)
			defer cancel()
			errOut := cmd.ErrOrStderr()
			show := false
			switch progress {
			case "always":
				show = true
			case "never":
			case "auto":
				show = isTerminal(errOut) && (size < 0 || size > 4<<20)
			default:
				return usagef("--progress: %q (want auto, always or never)", progress)
			}
			bar := &progressBar{w: errOut, total: size, start: time.Now()}
			o := client.ImportOptions{WriteOptions: client.WriteOptions{Precision: pr, CSVFormat: csvSpec}, BatchBytes: int(bs)}
			if show {
				o.Progress = bar.update
			}
			st, err := c.Import(ctx, f, bufio.NewReaderSize(in, 1<<20), o)
			if show {
				bar.finish()
			}
			el := time.Since(bar.start)
			fmt.Fprintf(errOut, "imported %d lines (%s) in %d batches in %s: %.0f lines/s, %s/s\n",
				st.Lines, humanBytes(float64(st.Bytes)), st.Batches, el.Round(time.Millisecond),
				float64(st.Lines)/el.Seconds(), humanBytes(float64(st.Bytes)/el.Seconds()))
			return err
		},
	}
	addRemoteFlags(cmd, &rf)
	fl := cmd.Flags()
	fl.StringVar(&file, "file", "", "input file (\"-\": stdin)")
	fl.StringVar(&format, "format", "prom", "input format: prom, influx, csv or jsonl")
	fl.StringVar(&csvSpec, "csv-format", "", "CSV column spec, e.g. 1:metric:cpu,2:label:host,3:time:unix_s")
	fl.StringVar(&pr, "precision", "", "influx timestamp precision: ns (default), us, ms, s")
	fl.StringVar(&batch, "batch-size", "4MiB", "request body size the input is cut into")
	fl.StringVar(&progress, "progress", "auto", "progress bar: auto (on a terminal, files over 4 MiB), always, never")
	fl.BoolVar(&rf.gzip, "gzip", true, "gzip request bodies")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletion("prom", "influx", "csv", "jsonl"))
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func humanBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

// progressBar draws one line on a terminal: a bar (when the total is
// known), bytes, lines, and rates.
type progressBar struct {
	w     io.Writer
	total int64 // -1: unknown (stdin)
	start time.Time
	last  client.ImportStats
}

func (p *progressBar) update(st client.ImportStats) {
	p.last = st
	el := time.Since(p.start).Seconds()
	bar := ""
	if p.total > 0 {
		const width = 30
		done := int(float64(width) * float64(st.Bytes) / float64(p.total))
		done = min(done, width)
		bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("=", done), strings.Repeat(" ", width-done), 100*float64(st.Bytes)/float64(p.total))
	}
	fmt.Fprintf(p.w, "\r%s%s, %d lines, %s/s, %.0f lines/s ", bar, humanBytes(float64(st.Bytes)), st.Lines,
		humanBytes(float64(st.Bytes)/el), float64(st.Lines)/el)
}

func (p *progressBar) finish() { fmt.Fprintln(p.w) }

func newExportCmd() *cobra.Command {
	var (
		rf                 remoteFlags
		matches            []string
		start, end, format string
		output             string
	)
	cmd := &cobra.Command{
		Use:   "export --match SELECTOR [--start --end] [--format jsonl|prom] [flags]",
		Short: "Export every sample of matching series from a running server",
		Long: `Stream every sample of the series matching any --match in [--start, --end]
(default all time) to stdout or --output: jsonl (one series per line,
VictoriaMetrics's shape; the default) or prom (text exposition with ms
timestamps). 'tsdb import' reads both back bit-exact.

  tsdb export --match '{job="node"}' --start -1h > node.jsonl
  tsdb export --match up --format prom`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(matches) == 0 {
				return usagef("at least one --match selector is required")
			}
			var f client.ExportFormat
			switch format {
			case "jsonl":
				f = client.ExportJSONLines
			case "prom":
				f = client.ExportProm
			default:
				return usagef("--format: %q (want jsonl or prom)", format)
			}
			now := time.Now()
			var r client.Range
			if start != "" {
				t, err := parseWhen("start", start, now)
				if err != nil {
					return err
				}
				r.Start = t
			}
			if end != "" {
				t, err := parseWhen("end", end, now)
				if err != nil {
					return err
				}
				r.End = t
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "" && output != "-" {
				fh, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				defer fh.Close()
				out = fh
			}
			bw := bufio.NewWriterSize(out, 1<<20)
			ctx, cancel := rf.context(cmd)
			defer cancel()
			if _, err := c.Export(ctx, bw, f, matches, r); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			if fh, ok := out.(*os.File); ok && output != "" && output != "-" {
				return fh.Sync()
			}
			return nil
		},
	}
	addRemoteFlags(cmd, &rf)
	fl := cmd.Flags()
	fl.StringArrayVar(&matches, "match", nil, "series selector (repeatable)")
	fl.StringVar(&start, "start", "", "start (now, -1h, unix seconds, RFC 3339; default: all time)")
	fl.StringVar(&end, "end", "", "end (default: all time)")
	fl.StringVar(&format, "format", "jsonl", "output format: jsonl or prom")
	fl.StringVarP(&output, "output", "O", "", "output file (default stdout)")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletion("jsonl", "prom"))
	return cmd
}
