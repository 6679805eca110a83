package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// Format is a write body format.
type Format string

// Formats Import and Write accept.
const (
	// FormatProm is Prometheus text exposition / OpenMetrics, timestamps
	// in ms (POST /api/v1/import/prometheus).
	FormatProm Format = "prom"
	// FormatInflux is Influx line protocol (POST /write; Precision).
	FormatInflux Format = "influx"
	// FormatCSV is CSV with a column spec (POST /api/v1/import/csv;
	// CSVFormat).
	FormatCSV Format = "csv"
	// FormatJSONLines is what /api/v1/export writes: one series per line,
	// {"metric":{...},"values":[...],"timestamps":[...]}; sent as the JSON
	// write format (POST /api/v1/write, application/json).
	FormatJSONLines Format = "jsonl"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatProm, FormatInflux, FormatCSV, FormatJSONLines:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want prom, influx, csv or jsonl)", s)
}

// WriteOptions qualify a write.
type WriteOptions struct {
	// Precision of Influx timestamps: ns (default), us, ms, s.
	Precision string
	// CSVFormat is the column spec of CSV bodies (required for CSV), as
	// /api/v1/import/csv takes it: "1:metric:cpu,2:label:host,3:time:unix_s".
	CSVFormat string
}

// Write sends one body in format f. The body is sent as is (gzip when
// Options.Gzip); a body of a whole file should go through Import, which
// cuts it into batches.
func (c *Client) Write(ctx context.Context, f Format, body []byte, o WriteOptions) error {
	switch f {
	case FormatProm:
		return c.send(ctx, request{path: "/api/v1/import/prometheus", body: body, contentType: "text/plain"}, true)
	case FormatInflux:
		q := url.Values{}
		if o.Precision != "" {
			q.Set("precision", o.Precision)
		}
		return c.send(ctx, request{path: "/write", query: q, body: body, contentType: "text/plain"}, true)
	case FormatCSV:
		if o.CSVFormat == "" {
			return errors.New("client: CSV needs WriteOptions.CSVFormat (the column spec)")
		}
		return c.send(ctx, request{path: "/api/v1/import/csv", query: url.Values{"format": {o.CSVFormat}}, body: body, contentType: "text/csv"}, true)
	case FormatJSONLines:
		jb, err := JSONLinesToWrite(body)
		if err != nil {
			return err
		}
		return c.send(ctx, request{path: "/api/v1/write", body: jb, contentType: "application/json"}, true)
	}
	return fmt.Errorf("client: unknown format %q", f)
}

// Sample is one sample of a series for WriteSeries.
type Sample struct {
	T int64 // ms
	V float64
}

// Series is a series with samples for WriteSeries. Labels must include
// __name__.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// WriteSeries sends series as one Prometheus remote write 1.0 request
// (protobuf, snappy).
func (c *Client) WriteSeries(ctx context.Context, series []Series) error {
	wr := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(series))}
	for i, s := range series {
		ts := &wr.Timeseries[i]
		for k, v := range s.Labels {
			ts.Labels = append(ts.Labels, prompb.Label{Name: k, Value: v})
		}
		slices.SortFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		for _, smp := range s.Samples {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: smp.T, Value: smp.V})
		}
	}
	b, err := wr.Marshal()
	if err != nil {
		return err
	}
	return c.send(ctx, request{path: "/api/v1/write", body: snappy.Encode(nil, b),
		contentType: "application/x-protobuf", encoding: "snappy"}, false)
}

// ImportOptions configure Import.
type ImportOptions struct {
	WriteOptions
	// BatchBytes is the body size Import cuts its input into, at line
	// boundaries (default 4 MiB).
	BatchBytes int
	// Progress, when set, is called after every batch with the totals so
	// far.
	Progress func(ImportStats)
}

// ImportStats count what Import sent.
type ImportStats struct {
	Bytes   int64 // input bytes sent
	Lines   int64 // input lines sent (samples, for text formats with one a line)
	Batches int
}

// Import reads r to the end and sends it in format f, cut into batches at
// line boundaries (a CSV header line is not supported: give the column
// spec). It stops at the first batch the server refuses and returns the
// stats of what was sent before, with the error.
func (c *Client) Import(ctx context.Context, f Format, r io.Reader, o ImportOptions) (ImportStats, error) {
	if o.BatchBytes <= 0 {
		o.BatchBytes = 4 << 20
	}
	var st ImportStats
	br := bufio.NewReaderSize(r, 1<<20)
	batch := make([]byte, 0, o.BatchBytes+64<<10)
	var lines int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := c.Write(ctx, f, batch, o.WriteOptions); err != nil {
			return fmt.Errorf("batch %d (input lines %d to %d): %w", st.Batches+1, st.Lines+1, st.Lines+lines, err)
		}
		st.Bytes += int64(len(batch))
		st.Lines += lines
		st.Batches++
		batch, lines = batch[:0], 0
		if o.Progress != nil {
			o.Progress(st)
		}
		return nil
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the reader's buffer: gather it whole.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			batch = append(batch, line...)
			if line[len(line)-1] != '\n' {
				batch = append(batch, '\n')
			}
			lines++
			if len(batch) >= o.BatchBytes {
				if ferr := flush(); ferr != nil {
					return st, ferr
				}
			}
		}
		if err == io.EOF {
			return st, flush()
		}
		if err != nil {
			return st, fmt.Errorf("read input: %w", err)
		}
	}
}

// exportLine is one line of /api/v1/export.
type exportLine struct {
	Metric     map[string]string `json:"metric"`
	Values     []json.RawMessage `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// JSONLinesToWrite converts export JSON lines to the JSON write format
// ({"timeseries":[{"labels":[...],"samples":[...]}]}), keeping every value
// bit-exact (numbers are copied as written; "NaN", "+Inf", "-Inf" strings
// stay strings). An error names the line.
func JSONLinesToWrite(in []byte) ([]byte, error) {
	out := make([]byte, 0, len(in)+len(in)/2)
	out = append(out, `{"timeseries":[`...)
	first := true
	for n := 1; len(in) > 0; n++ {
		line := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, in = in[:i], in[i+1:]
		} else {
			in = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var el exportLine
		if err := json.Unmarshal(line, &el); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if len(el.Values) != len(el.Timestamps) {
			return nil, fmt.Errorf("line %d: %d values but %d timestamps", n, len(el.Values), len(el.Timestamps))
		}
		if len(el.Metric) == 0 {
			return nil, fmt.Errorf("line %d: no metric labels", n)
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, `{"labels":[`...)
		names := make([]string, 0, len(el.Metric))
		for k := range el.Metric {
			names = append(names, k)
		}
		slices.Sort(names)
		for i, k := range names {
			if i > 0 {
				out = append(out, ',')
			}
			kb, _ := json.Marshal(k)
			vb, _ := json.Marshal(el.Metric[k])
			out = append(out, `{"name":`...)
			out = append(out, kb...)
			out = append(out, `,"value":`...)
			out = append(out, vb...)
			out = append(out, '}')
		}
		out = append(out, `],"samples":[`...)
		for i, v := range el.Values {
			if err := checkValue(v); err != nil {
				return nil, fmt.Errorf("line %d value %d: %w", n, i+1, err)
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"timestamp":`...)
			out = strconv.AppendInt(out, el.Timestamps[i], 10)
			out = append(out, `,"value":`...)
			out = append(out, v...)
			out = append(out, '}')
		}
		out = append(out, "]}"...)
	}
	return append(out, "]}"...), nil
}

func checkValue(v json.RawMessage) error {
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if s == "NaN" || s == "+Inf" || s == "-Inf" || s == "Inf" {
			return nil
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return fmt.Errorf("value %s is not a number", v)
		}
		return nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) {
		return fmt.Errorf("value %s is not a number", v)
	}
	return nil
}
