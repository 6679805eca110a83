package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// The commands that talk to a running server (write, query, import,
// export) share --addr (default $TSDB_ADDR, else http://localhost:8080),
// --timeout and basic auth, and map failures to distinct exit codes:
//
//	0 success
//	1 an unexpected failure (reading a file, writing the output)
//	2 a usage error (bad flag or argument)
//	3 the server refused the request (4xx: bad query, bad data)
//	4 the server is unreachable, overloaded or failing (connection error, 5xx)

// Exit codes (see above).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitRejected    = 3
	exitUnavailable = 4
)

// usageError marks an error as a usage error (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode maps a command's error to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, errFlag) {
		return exitUsage
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		if ae.StatusCode >= 500 || ae.StatusCode == 429 {
			return exitUnavailable
		}
		return exitRejected
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded) {
		return exitUnavailable
	}
	return exitFailure
}

// remoteFlags are the flags of every command that talks to a server.
type remoteFlags struct {
	addr     string
	timeout  time.Duration
	username string
	gzip     bool // compress write bodies
}

func addRemoteFlags(cmd *cobra.Command, rf *remoteFlags) {
	def := os.Getenv("TSDB_ADDR")
	if def == "" {
		def = "http://localhost:8080"
	}
	f := cmd.Flags()
	f.StringVar(&rf.addr, "addr", def, "server address (default from $TSDB_ADDR)")
	f.DurationVar(&rf.timeout, "timeout", 5*time.Minute, "bound on the whole command, retries included")
	f.StringVar(&rf.username, "username", os.Getenv("TSDB_USERNAME"), "basic auth user (password from $TSDB_PASSWORD)")
}

func (rf *remoteFlags) client() (*client.Client, error) {
	c, err := client.New(rf.addr, client.Options{Username: rf.username, Password: os.Getenv("TSDB_PASSWORD"), Gzip: rf.gzip})
	if err != nil {
		return nil, usageError{fmt.Errorf("--addr: %w", err)}
	}
	return c, nil
}

func (rf *remoteFlags) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), rf.timeout)
}

// parseWhen parses a time flag: "now", a duration relative to now
// ("-1h", "-30m"), unix seconds (with a fraction) or RFC 3339.
func parseWhen(name, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "now":
		return now, nil
	case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+"):
		if d, err := model.ParseDuration(s[1:]); err == nil {
			if s[0] == '-' {
				return now.Add(-time.Duration(d)), nil
			}
			return now.Add(time.Duration(d)), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// NaN, ±Inf and seconds beyond int64 milliseconds would convert to
		// an arbitrary time (Go leaves such conversions undefined).
		ms := math.Round(f * 1000)
		if math.IsNaN(ms) || ms >= math.MaxInt64 || ms <= math.MinInt64 {
			return time.Time{}, usagef("--%s: %q is outside the unix seconds a millisecond timestamp holds", name, s)
		}
		return time.UnixMilli(int64(ms)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("--%s: %q is not a time (want now, -1h, unix seconds or RFC 3339)", name, s)
}

func parseStep(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ns := f * float64(time.Second)
		if !(ns >= 1) || ns >= math.MaxInt64 { // NaN fails both comparisons
			return 0, usagef("--step: %q is not a positive duration that fits int64 nanoseconds", s)
		}
		return time.Duration(ns), nil
	}
	d, err := model.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--step: %q is not a positive duration (1m, 15s, or seconds)", s)
	}
	return time.Duration(d), nil
}

// readInput returns the body of a write: the arguments, one sample a
// line, or stdin when there are none (or the one argument is "-").
func readInput(args []string, stdin io.Reader) ([]byte, error) {
	if len(args) == 0 || len(args) == 1 && args[0] == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	return []byte(strings.Join(args, "\n") + "\n"), nil
}

func newWriteCmd() *cobra.Command {
	var (
		rf        remoteFlags
		format    string
		precision string
		csvSpec   string
	)
	cmd := &cobra.Command{
		Use:   "write [flags] [SAMPLE...]",
		Short: "Write samples to a running server (arguments, or stdin)",
		Long: `Write samples to the server at --addr. Each argument is one line; with no
argument (or "-") lines are read from stdin.

  tsdb write 'cpu_usage{host="server1"} 0.85'
  tsdb write 'cpu_usage{host="server1"} 0.85 1700000000000'
  tsdb write --format influx 'cpu,host=server1 usage=0.85'
  cat samples.prom | tsdb write

--format prom (default) is Prometheus text exposition with optional ms
timestamps (the server's receive time when absent); influx is line
protocol (--precision ns|us|ms|s); csv needs --csv-format; jsonl is what
'tsdb export' writes. Exit codes: 0 ok, 2 usage, 3 refused (the error
names the line), 4 server unreachable or failing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := client.ParseFormat(format)
			if err != nil {
				return usageError{fmt.Errorf("--format: %w", err)}
			}
			body, err := readInput(args, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if len(strings.TrimSpace(string(body))) == 0 {
				return usagef("nothing to write: give samples as arguments or on stdin")
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			ctx, cancel := rf.context(cmd)
			defer cancel()
			return c.Write(ctx, f, body, client.WriteOptions{Precision: precision, CSVFormat: csvSpec})
		},
	}
	addRemoteFlags(cmd, &rf)
	fl := cmd.Flags()
	fl.StringVar(&format, "format", "prom", "input format: prom, influx, csv or jsonl")
	fl.StringVar(&precision, "precision", "", "influx timestamp precision: ns (default), us, ms, s")
	fl.StringVar(&csvSpec, "csv-format", "", "CSV column spec, e.g. 1:metric:cpu,2:label:host,3:time:unix_s")
	fl.BoolVar(&rf.gzip, "gzip", false, "gzip the request body")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletion("prom", "influx", "csv", "jsonl"))
	return cmd
}

func fixedCompletion(vs ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return vs, cobra.ShellCompDirectiveNoFileComp
	}
}

// usageArgs makes an argument check's failure a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
