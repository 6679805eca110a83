package perf

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/silverback-tsdb/tsdb/loadgen/inprocess"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

// manyBlocks is the workload of the restart scenario's "100 blocks" case:
// one host (507 series) scraped every minute over n block ranges of 2 h,
// ending an hour before now, written straight into blocks (Silverback:
// in process with compaction off, one shard; Prometheus: promtool tsdb
// create-blocks-from openmetrics, one 2 h window per call), so that the
// server starts on n blocks and an empty head.
type manyBlocks struct {
	n          int
	blockRange time.Duration
	interval   time.Duration
}

func (m manyBlocks) config(now time.Time) loadgen.Config {
	span := time.Duration(m.n) * m.blockRange
	start := now.Add(-span - time.Hour).Truncate(m.blockRange)
	return loadgen.Config{Workload: loadgen.WorkloadBackfill, Protocol: loadgen.ProtocolInProcess, Hosts: 1, Seed: 1,
		Start: start.UnixMilli(), BackfillRange: span, Interval: m.interval, Concurrency: 1}
}

// silverbackBlocks writes the blocks into dir (a new database) and
// returns the samples and the blocks written.
func (m manyBlocks) silverback(ctx context.Context, dir string, now time.Time) (int64, int, error) {
	t, err := inprocess.Open(dir, pipeline.Options{Shards: 1, BlockRange: m.blockRange, CompactionRanges: []time.Duration{m.blockRange}})
	if err != nil {
		return 0, 0, err
	}
	c := m.config(now)
	// One scrape per request, and the head persisted whenever a request
	// starts a new window: exactly one block per window. (Left to itself
	// the head cuts behind a backfill this fast and persists the rest as
	// one long block at the end: 36-60 blocks instead of 100.)
	c.Batch = 507
	c.Target = &windowTarget{t: t, blockRange: m.blockRange.Milliseconds(), window: -1}
	sum, err := loadPersistClose(ctx, t, c)
	if err != nil {
		return 0, 0, err
	}
	bs, err := blocks(dir)
	return sum.Samples, len(bs), err
}

// windowTarget persists the in-process database's head as a block before
// the first request of each new block range window.
type windowTarget struct {
	t          *inprocess.Target
	blockRange int64 // ms
	window     int64
}

func (w *windowTarget) Send(ctx context.Context, p *loadgen.Payload) error {
	if len(p.Batch.Samples) > 0 {
		if win := p.Batch.Samples[0].T / w.blockRange; win != w.window {
			if w.window >= 0 {
				if err := w.t.DB().Compact(ctx, true); err != nil {
					return err
				}
			}
			w.window = win
		}
	}
	return w.t.Send(ctx, p)
}

// omTarget writes the in-process batches it is sent as OpenMetrics text,
// one file per block range window (a window's file stays open, so samples
// of several hosts may arrive in any order across windows).
type omTarget struct {
	dir        string
	blockRange int64 // ms
	open       map[int64]*omFile
	files      []string // in order of creation
	buf        []byte
	err        error
}

type omFile struct {
	f *os.File
	w *bufio.Writer
}

func (o *omTarget) Send(_ context.Context, p *loadgen.Payload) error {
	if o.err != nil {
		return o.err
	}
	b := p.Batch
	for _, smp := range b.Samples {
		win := smp.T / o.blockRange
		f := o.open[win]
		if f == nil {
			if f, o.err = o.create(win); o.err != nil {
				return o.err
			}
		}
		o.buf = appendOM(o.buf[:0], b.Series[smp.Series].Labels, smp.T, smp.V)
		if _, err := f.w.Write(o.buf); err != nil {
			o.err = err
			return err
		}
	}
	return nil
}

func (o *omTarget) create(win int64) (*omFile, error) {
	if o.open == nil {
		o.open = map[int64]*omFile{}
	}
	name := filepath.Join(o.dir, fmt.Sprintf("window-%d.om", win))
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	of := &omFile{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	o.open[win] = of
	o.files = append(o.files, name)
	return of, nil
}

// close ends and closes every file.
func (o *omTarget) close() error {
	var err error
	for _, f := range o.open {
		_, werr := f.w.WriteString("# EOF\n")
		if werr == nil {
			werr = f.w.Flush()
		}
		if cerr := f.f.Close(); werr == nil {
			werr = cerr
		}
		if err == nil {
			err = werr
		}
	}
	o.open = nil
	return err
}

// appendOM appends one OpenMetrics sample line (timestamp in seconds).
func appendOM(dst []byte, ls labels.Labels, t int64, v float64) []byte {
	dst = append(dst, ls.Get(labels.MetricName)...)
	dst = append(dst, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if l.Name == labels.MetricName {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, l.Name...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, l.Value)
	})
	dst = append(dst, '}', ' ')
	dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	dst = append(dst, ' ')
	dst = strconv.AppendFloat(dst, float64(t)/1e3, 'f', 3, 64)
	return append(dst, '\n')
}

// promtool finds Prometheus's promtool: TSDB_PERF_PROMTOOL, beside the
// prometheus binary, or on PATH.
func promtool(prom string) (string, error) {
	if p := os.Getenv("TSDB_PERF_PROMTOOL"); p != "" {
		return p, nil
	}
	if p := filepath.Join(filepath.Dir(prom), "promtool"); prom != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		return "", fmt.Errorf("promtool is not installed (it writes Prometheus blocks offline: apt-get install -y prometheus, or set TSDB_PERF_PROMTOOL)")
	}
	return p, nil
}

// prometheus writes the blocks into dir/data (Prometheus's storage path in
// the perf System) with promtool and returns the samples and the blocks.
func (m manyBlocks) prometheus(ctx context.Context, tool, dir string, now time.Time) (int64, int, error) {
	return promtoolBackfill(ctx, tool, dir, m.config(now), m.blockRange)
}

// promtoolBackfill sends the workload c (protocol and target set here) as
// OpenMetrics files of one block range window each and has promtool write
// each into blocks under dir/data: how Prometheus takes history its remote
// write refuses. It returns the samples and the blocks written.
func promtoolBackfill(ctx context.Context, tool, dir string, c loadgen.Config, blockRange time.Duration) (int64, int, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return 0, 0, err
	}
	om := &omTarget{dir: dir, blockRange: blockRange.Milliseconds()}
	c.Protocol, c.Target = loadgen.ProtocolInProcess, om
	sum, err := loadgen.Run(ctx, c)
	if cerr := om.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, err
	}
	for _, f := range om.files {
		out, err := exec.CommandContext(ctx, tool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", f, data).CombinedOutput()
		if err != nil {
			return 0, 0, fmt.Errorf("%s %s: %w: %s", tool, f, err, tail(string(out)))
		}
		_ = os.Remove(f)
	}
	ents, err := os.ReadDir(data)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) == 26 && !strings.HasSuffix(e.Name(), ".tmp") {
			n++
		}
	}
	return sum.Samples, n, nil
}
