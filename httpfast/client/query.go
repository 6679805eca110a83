package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Value types of a query result.
const (
	TypeScalar = "scalar"
	TypeString = "string"
	TypeVector = "vector"
	TypeMatrix = "matrix"
)

// Point is one sample: T in ms.
type Point struct {
	T int64
	V float64
}

// VectorSample is one element of an instant vector.
type VectorSample struct {
	Metric map[string]string
	Point
}

// MatrixSeries is one series of a range vector.
type MatrixSeries struct {
	Metric map[string]string
	Points []Point
}

// Result is a query's answer. Exactly one of Scalar/String, Vector and
// Matrix is meaningful, by Type.
type Result struct {
	Type   string
	Scalar Point  // scalar, and the timestamp of a string
	String string // string
	Vector []VectorSample
	Matrix []MatrixSeries
	// Warnings and Infos are the engine's annotations.
	Warnings, Infos []string
}

// QueryOptions qualify Query and QueryRange; zero fields are not sent.
type QueryOptions struct {
	Timeout       time.Duration
	LookbackDelta time.Duration
	Limit         int
}

func (o QueryOptions) values(q url.Values) {
	if o.Timeout > 0 {
		q.Set("timeout", formatSeconds(o.Timeout))
	}
	if o.LookbackDelta > 0 {
		q.Set("lookback_delta", formatSeconds(o.LookbackDelta))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
}

func formatSeconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// Query evaluates q at ts (the server's now when ts is zero).
func (c *Client) Query(ctx context.Context, q string, ts time.Time, o QueryOptions) (*Result, error) {
	v := url.Values{"query": {q}}
	if !ts.IsZero() {
		v.Set("time", formatTime(ts))
	}
	o.values(v)
	return c.query(ctx, "/api/v1/query", v)
}

// QueryRange evaluates q over [start, end] every step.
func (c *Client) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration, o QueryOptions) (*Result, error) {
	v := url.Values{"query": {q}, "start": {formatTime(start)}, "end": {formatTime(end)}, "step": {formatSeconds(step)}}
	o.values(v)
	return c.query(ctx, "/api/v1/query_range", v)
}

// envelope is the query API's answer.
type envelope struct {
	Status   string          `json:"status"`
	Data     json.RawMessage `json:"data"`
	Warnings []string        `json:"warnings"`
	Infos    []string        `json:"infos"`
}

// api posts a form to a query API endpoint and returns its envelope.
func (c *Client) api(ctx context.Context, path string, v url.Values) (*envelope, error) {
	r := request{method: http.MethodPost, path: path, body: []byte(v.Encode()), contentType: "application/x-www-form-urlencoded"}
	if strings.HasPrefix(path, "/api/v1/label/") {
		// GET only, as in Prometheus.
		r = request{method: http.MethodGet, path: path, query: v}
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("decode %s answer: %w", path, err)
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("%s answered status %q", path, env.Status)
	}
	return &env, nil
}

func (c *Client) query(ctx context.Context, path string, v url.Values) (*Result, error) {
	raw, err := c.Raw(ctx, path, v)
	if err != nil {
		return nil, err
	}
	return DecodeResult(raw)
}

// DecodeResult decodes a query or query_range answer (the envelope).
func DecodeResult(raw []byte) (*Result, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("decode query answer: %w", err)
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("query answered status %q", env.Status)
	}
	var err error
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	res := &Result{Type: d.ResultType, Warnings: env.Warnings, Infos: env.Infos}
	switch d.ResultType {
	case TypeScalar, TypeString:
		var p [2]json.RawMessage
		if err := json.Unmarshal(d.Result, &p); err != nil {
			return nil, fmt.Errorf("decode %s: %w", d.ResultType, err)
		}
		if res.Scalar, err = parsePoint(p); err != nil && d.ResultType == TypeScalar {
			return nil, err
		}
		if d.ResultType == TypeString {
			if err := json.Unmarshal(p[1], &res.String); err != nil {
				return nil, fmt.Errorf("decode string: %w", err)
			}
		}
	case TypeVector:
		var vs []struct {
			Metric map[string]string  `json:"metric"`
			Value  [2]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(d.Result, &vs); err != nil {
			return nil, fmt.Errorf("decode vector: %w", err)
		}
		res.Vector = make([]VectorSample, len(vs))
		for i, s := range vs {
			p, err := parsePoint(s.Value)
			if err != nil {
				return nil, err
			}
			res.Vector[i] = VectorSample{Metric: s.Metric, Point: p}
		}
	case TypeMatrix:
		var ms []struct {
			Metric map[string]string    `json:"metric"`
			Values [][2]json.RawMessage `json:"values"`
		}
		if err := json.Unmarshal(d.Result, &ms); err != nil {
			return nil, fmt.Errorf("decode matrix: %w", err)
		}
		res.Matrix = make([]MatrixSeries, len(ms))
		for i, s := range ms {
			ps := make([]Point, len(s.Values))
			for j, v := range s.Values {
				if ps[j], err = parsePoint(v); err != nil {
					return nil, err
				}
			}
			res.Matrix[i] = MatrixSeries{Metric: s.Metric, Points: ps}
		}
	default:
		return nil, fmt.Errorf("unknown result type %q", d.ResultType)
	}
	return res, nil
}

// parsePoint parses [seconds, "value"]; seconds are converted to ms from
// their decimal text (no float rounding).
func parsePoint(p [2]json.RawMessage) (Point, error) {
	t, err := parseMillis(string(p[0]))
	if err != nil {
		return Point{}, err
	}
	var s string
	if err := json.Unmarshal(p[1], &s); err != nil {
		return Point{}, fmt.Errorf("decode value %s: %w", p[1], err)
	}
	v, err := parseValue(s)
	if err != nil {
		return Point{}, err
	}
	return Point{T: t, V: v}, nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q: %w", s, err)
	}
	return v, nil
}

func parseMillis(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, err)
	}
	frac = (frac + "000")[:3]
	ms, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, err)
	}
	t := sec*1000 + ms
	if neg {
		t = -t
	}
	return t, nil
}

// Range is an optional time range of metadata calls; zero times are not
// sent (all time).
type Range struct{ Start, End time.Time }

func (r Range) values(v url.Values) {
	if !r.Start.IsZero() {
		v.Set("start", formatTime(r.Start))
	}
	if !r.End.IsZero() {
		v.Set("end", formatTime(r.End))
	}
}

// Series returns the label sets of the series matching any of matches.
func (c *Client) Series(ctx context.Context, matches []string, r Range) ([]map[string]string, error) {
	v := url.Values{"match[]": matches}
	r.values(v)
	env, err := c.api(ctx, "/api/v1/series", v)
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	if err := json.Unmarshal(env.Data, &out); err != nil {
		return nil, fmt.Errorf("decode series: %w", err)
	}
	return out, nil
}

// Labels returns the label names (of the series matching matches, if
// any).
func (c *Client) Labels(ctx context.Context, matches []string, r Range) ([]string, error) {
	v := url.Values{}
	if len(matches) > 0 {
		v["match[]"] = matches
	}
	r.values(v)
	return c.strings(ctx, "/api/v1/labels", v)
}

// LabelValues returns the values of label name.
func (c *Client) LabelValues(ctx context.Context, name string, matches []string, r Range) ([]string, error) {
	v := url.Values{}
	if len(matches) > 0 {
		v["match[]"] = matches
	}
	r.values(v)
	// Names outside [a-zA-Z_][a-zA-Z0-9_]* go in the U__ escaping of
	// Prometheus 3, which keeps them one path segment.
	return c.strings(ctx, "/api/v1/label/"+escapeLabelName(name)+"/values", v)
}

func (c *Client) strings(ctx context.Context, path string, v url.Values) ([]string, error) {
	env, err := c.api(ctx, path, v)
	if err != nil {
		return nil, err
	}
	var out []string
	if err := json.Unmarshal(env.Data, &out); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return out, nil
}

func escapeLabelName(s string) string {
	if model.LegacyValidation.IsValidLabelName(s) {
		return s
	}
	return model.EscapeName(s, model.ValueEncodingEscaping)
}

// ExportFormat is the format of Export.
type ExportFormat string

// Export formats.
const (
	ExportJSONLines ExportFormat = "jsonl" // /api/v1/export
	ExportProm      ExportFormat = "prom"  // /api/v1/export/prometheus
)

// Export streams every sample of the series matching any of matches in r
// to w, in format f (what Import reads back).
func (c *Client) Export(ctx context.Context, w io.Writer, f ExportFormat, matches []string, r Range) (int64, error) {
	path := "/api/v1/export"
	switch f {
	case ExportJSONLines, "":
	case ExportProm:
		path = "/api/v1/export/prometheus"
	default:
		return 0, fmt.Errorf("unknown export format %q (want jsonl or prom)", f)
	}
	v := url.Values{"match[]": matches}
	r.values(v)
	resp, err := c.do(ctx, request{method: http.MethodPost, path: path, body: []byte(v.Encode()),
		contentType: "application/x-www-form-urlencoded"})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, bufio.NewReaderSize(resp.Body, 1<<20))
}

// Raw posts form values v to a query API path ("/api/v1/query") and
// returns the server's JSON answer as is (a refused request is an *Error).
func (c *Client) Raw(ctx context.Context, path string, v url.Values) ([]byte, error) {
	r := request{method: http.MethodPost, path: path, body: []byte(v.Encode()), contentType: "application/x-www-form-urlencoded"}
	if strings.HasPrefix(path, "/api/v1/label/") || strings.HasPrefix(path, "/api/v1/status/") {
		r = request{method: http.MethodGet, path: path, query: v}
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
