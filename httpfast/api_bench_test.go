package httpfast

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// BenchmarkQueryEncode measures the JSON encoding of a range-query answer
// (the handler's cost besides evaluation): samples/s and allocations.
func BenchmarkQueryEncode(b *testing.B) {
	for _, size := range []struct{ series, points int }{{10, 1000}, {1000, 60}} {
		b.Run(fmt.Sprintf("series=%d/points=%d", size.series, size.points), func(b *testing.B) {
			res := &EngineResult{Type: "matrix"}
			for i := range size.series {
				s := MatrixSeries{Metric: labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", fmt.Sprint(i), "mode", "idle", "instance", "host-01:9100")}
				for j := range size.points {
					s.Floats = append(s.Floats, Point{T: 1_700_000_000_000 + int64(j)*15_000, F: float64(j)*1.25 + math.Pi})
				}
				res.Matrix = append(res.Matrix, s)
			}
			n := size.series * size.points
			b.Run("impl=appender", func(b *testing.B) {
				d := queryData{res}
				buf := d.AppendJSON(nil)
				b.ReportAllocs()
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					buf = d.AppendJSON(buf[:0])
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			})
			// Baseline: encoding/json over the same answer as generic
			// values (what a straightforward handler would do).
			b.Run("impl=encoding_json", func(b *testing.B) {
				type series struct {
					Metric map[string]string `json:"metric"`
					Values [][2]any          `json:"values"`
				}
				out := make([]series, len(res.Matrix))
				for i, s := range res.Matrix {
					out[i].Metric = s.Metric.Map()
					for _, p := range s.Floats {
						out[i].Values = append(out[i].Values, [2]any{float64(p.T) / 1000, strconv.FormatFloat(p.F, 'f', -1, 64)})
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := json.Marshal(out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		})
	}
}

// BenchmarkExportEncode measures one series' JSON-lines and text export
// lines.
func BenchmarkExportEncode(b *testing.B) {
	ls := labels.FromStrings("__name__", "node_network_receive_bytes_total", "device", "eth0", "instance", "host-01:9100", "job", "node")
	ts := make([]int64, 1000)
	vs := make([]float64, 1000)
	for i := range ts {
		ts[i], vs[i] = 1_700_000_000_000+int64(i)*15_000, float64(i)*12345.678
	}
	for _, f := range []struct {
		name string
		fn   func([]byte, labels.Labels, []int64, []float64) []byte
	}{{"format=jsonl", appendExportJSON}, {"format=prom", appendExportText}} {
		b.Run(f.name, func(b *testing.B) {
			buf := f.fn(nil, ls, ts, vs)
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				buf = f.fn(buf[:0], ls, ts, vs)
			}
			b.ReportMetric(float64(len(ts))*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
