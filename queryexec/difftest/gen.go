package difftest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// Sample data: counters with resets, gauges, classic histogram buckets,
// with gaps, stale markers and jittered timestamps.

// GenSeries is one generated series.
type GenSeries struct {
	Labels labels.Labels
	T      []int64
	F      []float64
}

// DataSpec sizes the generated data.
type DataSpec struct {
	Instances int
	Start     int64 // ms
	End       int64 // ms
	Interval  int64 // ms
	Jitter    int64 // ms, +- around each scrape
}

// Metric names the expression generator draws from.
var (
	counterNames = []string{"http_requests_total", "errors_total"}
	gaugeNames   = []string{"node_temp", "queue_len"}
	histName     = "req_duration_seconds"
	histBuckets  = []string{"0.1", "0.5", "1", "5", "+Inf"}
	jobs         = []string{"api", "db"}
)

// GenerateData makes the random data set.
func GenerateData(r *rand.Rand, d DataSpec) []GenSeries {
	var out []GenSeries
	stale := math.Float64frombits(value.StaleNaN)
	times := func() []int64 {
		var ts []int64
		last := int64(math.MinInt64)
		for t := d.Start; t <= d.End; t += d.Interval {
			if r.IntN(20) == 0 { // gap
				continue
			}
			tt := t
			if d.Jitter > 0 {
				tt += r.Int64N(2*d.Jitter+1) - d.Jitter
			}
			if tt <= last {
				continue
			}
			last = tt
			ts = append(ts, tt)
		}
		return ts
	}
	for inst := range d.Instances {
		for ji, job := range jobs {
			base := []string{"instance", fmt.Sprintf("i%d", inst), "job", job}
			for _, name := range counterNames {
				s := GenSeries{Labels: labels.FromStrings(append([]string{"__name__", name}, base...)...)}
				v := float64(r.IntN(100))
				for _, t := range times() {
					switch {
					case r.IntN(80) == 0:
						v = float64(r.IntN(5)) // reset
					default:
						v += float64(r.IntN(10 + 10*ji))
					}
					s.T = append(s.T, t)
					if r.IntN(150) == 0 {
						s.F = append(s.F, stale)
						continue
					}
					s.F = append(s.F, v)
				}
				out = append(out, s)
			}
			for _, name := range gaugeNames {
				s := GenSeries{Labels: labels.FromStrings(append([]string{"__name__", name}, base...)...)}
				v := r.Float64() * 100
				for _, t := range times() {
					v += r.NormFloat64() * 5
					if r.IntN(40) == 0 {
						v = math.Round(v)
					}
					s.T = append(s.T, t)
					if r.IntN(150) == 0 {
						s.F = append(s.F, stale)
						continue
					}
					s.F = append(s.F, v)
				}
				out = append(out, s)
			}
			// Classic histogram: cumulative buckets, count and sum.
			ts := times()
			counts := make([]float64, len(histBuckets))
			var sum float64
			series := make([]GenSeries, len(histBuckets)+2)
			for bi, le := range histBuckets {
				series[bi].Labels = labels.FromStrings(append([]string{"__name__", histName + "_bucket", "le", le}, base...)...)
			}
			series[len(histBuckets)].Labels = labels.FromStrings(append([]string{"__name__", histName + "_count"}, base...)...)
			series[len(histBuckets)+1].Labels = labels.FromStrings(append([]string{"__name__", histName + "_sum"}, base...)...)
			for _, t := range ts {
				n := r.IntN(20)
				for range n {
					obs := r.ExpFloat64()
					sum += obs
					for bi, le := range histBuckets {
						ub := math.Inf(1)
						if le != "+Inf" {
							fmt.Sscan(le, &ub)
						}
						if obs <= ub {
							counts[bi]++
						}
					}
				}
				for bi := range histBuckets {
					series[bi].T = append(series[bi].T, t)
					series[bi].F = append(series[bi].F, counts[bi])
				}
				series[len(histBuckets)].T = append(series[len(histBuckets)].T, t)
				series[len(histBuckets)].F = append(series[len(histBuckets)].F, counts[len(histBuckets)-1])
				series[len(histBuckets)+1].T = append(series[len(histBuckets)+1].T, t)
				series[len(histBuckets)+1].F = append(series[len(histBuckets)+1].F, sum)
			}
			out = append(out, series...)
		}
	}
	return out
}

// ExprGen generates random PromQL expressions from a grammar.
type ExprGen struct {
	R *rand.Rand
}

func (g *ExprGen) pick(xs ...string) string { return xs[g.R.IntN(len(xs))] }

func (g *ExprGen) duration() string {
	return g.pick("1m", "2m", "5m", "10m", "30s", "90s", "1h", "15m")
}

func (g *ExprGen) selector() string {
	var name string
	switch g.R.IntN(4) {
	case 0:
		name = g.pick(counterNames...)
	case 1:
		name = g.pick(gaugeNames...)
	case 2:
		name = histName + g.pick("_bucket", "_count", "_sum")
	default:
		var ms []string
		ms = append(ms, g.pick(`__name__=~"http_.*|node_.*"`, `__name__=~".+_total"`, `__name__="queue_len"`))
		if g.R.IntN(2) == 0 {
			ms = append(ms, g.pick(`job="api"`, `job!="db"`, `instance=~"i[01]"`))
		}
		return "{" + strings.Join(ms, ", ") + "}"
	}
	var ms []string
	switch g.R.IntN(5) {
	case 0:
		ms = append(ms, g.pick(`job="api"`, `job="db"`, `job=~"a.*"`, `job!="api"`))
	case 1:
		ms = append(ms, g.pick(`instance="i0"`, `instance=~"i[12]"`, `instance!~"i0"`))
	}
	s := name
	if len(ms) > 0 {
		s += "{" + strings.Join(ms, ",") + "}"
	}
	return s
}

func (g *ExprGen) modifiers(s string) string {
	switch g.R.IntN(8) {
	case 0:
		s += " offset " + g.pick("1m", "5m", "-2m", "30s")
	case 1:
		s += " @ " + g.pick("start()", "end()", "3600", "1800.5")
	}
	return s
}

// Vector returns an instant-vector expression.
func (g *ExprGen) Vector(depth int) string {
	if depth <= 0 {
		return g.modifiers(g.selector())
	}
	switch g.R.IntN(12) {
	case 0, 1:
		return g.modifiers(g.selector())
	case 2, 3:
		return g.rangeCall(depth)
	case 4, 5:
		return g.aggregation(depth)
	case 6, 7:
		return g.binary(depth)
	case 8:
		return g.instantCall(depth)
	case 9:
		return "histogram_quantile(" + g.pick("0.5", "0.9", "0.99", "1.5", "-0.1") + ", " +
			g.pick("sum by (le) (rate("+histName+"_bucket["+g.duration()+"]))",
				"rate("+histName+"_bucket["+g.duration()+"])",
				"sum by (le, job) (increase("+histName+"_bucket{job=\"api\"}["+g.duration()+"]))") + ")"
	case 10:
		return "-" + g.Vector(depth-1)
	default:
		return "(" + g.Vector(depth-1) + ")"
	}
}

// Scalar returns a scalar expression.
func (g *ExprGen) Scalar(depth int) string {
	switch g.R.IntN(6) {
	case 0:
		return g.pick("1", "2", "0.5", "-3", "100", "NaN", "Inf", "0")
	case 1:
		if depth > 0 {
			return "scalar(" + g.Vector(depth-1) + ")"
		}
	case 2:
		return g.pick("time()", "pi()")
	case 3:
		if depth > 0 {
			return g.Scalar(depth-1) + " " + g.pick("+", "-", "*", "/", "%", "^") + " " + g.Scalar(depth-1)
		}
	}
	return g.pick("1", "3", "10", "0.25")
}

var rangeFuncNames = []string{
	"rate", "increase", "delta", "irate", "idelta", "resets", "changes", "deriv",
	"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
	"stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
	"absent_over_time", "first_over_time",
}

func (g *ExprGen) rangeArg(depth int) string {
	if depth > 1 && g.R.IntN(5) == 0 {
		inner := g.Vector(depth - 2)
		step := g.pick("", "1m", "30s", "2m")
		return "(" + inner + ")[" + g.duration() + ":" + step + "]" + g.pick("", "", " offset 1m", " @ end()")
	}
	return g.modifiers(g.selector() + "[" + g.duration() + "]")
}

func (g *ExprGen) rangeCall(depth int) string {
	switch g.R.IntN(12) {
	case 0:
		return "quantile_over_time(" + g.pick("0.5", "0.9", "0", "1", "1.2") + ", " + g.rangeArg(depth) + ")"
	case 1:
		return "predict_linear(" + g.rangeArg(depth) + ", " + g.pick("60", "3600", "-30") + ")"
	default:
		return g.pick(rangeFuncNames...) + "(" + g.rangeArg(depth) + ")"
	}
}

var instantFuncNames = []string{
	"abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "timestamp",
	"sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
	"rad", "deg", "absent", "sort", "sort_desc", "day_of_week", "hour", "minute", "month", "year",
	"day_of_month", "day_of_year", "days_in_month",
}

func (g *ExprGen) instantCall(depth int) string {
	switch g.R.IntN(10) {
	case 0:
		return "clamp(" + g.Vector(depth-1) + ", " + g.pick("0", "10") + ", " + g.pick("50", "5") + ")"
	case 1:
		return g.pick("clamp_min", "clamp_max") + "(" + g.Vector(depth-1) + ", " + g.pick("1", "20") + ")"
	case 2:
		return "round(" + g.Vector(depth-1) + g.pick("", ", 5", ", 0.1") + ")"
	case 3:
		return `label_replace(` + g.Vector(depth-1) + `, "dst", "$1", "instance", "i(.*)")`
	case 4:
		return `label_join(` + g.Vector(depth-1) + `, "dst", "-", "instance", "job")`
	case 5:
		return "vector(" + g.Scalar(depth-1) + ")"
	default:
		return g.pick(instantFuncNames...) + "(" + g.Vector(depth-1) + ")"
	}
}

func (g *ExprGen) grouping() string {
	switch g.R.IntN(4) {
	case 0:
		return ""
	case 1:
		return " by (" + g.pick("job", "instance", "job, instance", "__name__", "le") + ")"
	case 2:
		return " without (" + g.pick("instance", "job", "le") + ")"
	}
	return " by ()"
}

func (g *ExprGen) aggregation(depth int) string {
	op := g.pick("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "sum", "avg")
	arg := g.Vector(depth - 1)
	grp := g.grouping()
	switch op {
	case "topk", "bottomk":
		return op + grp + " (" + g.pick("1", "2", "3", "0") + ", " + arg + ")"
	case "quantile":
		return op + grp + " (" + g.pick("0.5", "0.9", "0", "1", "2") + ", " + arg + ")"
	case "count_values":
		return op + grp + ` ("value", ` + arg + ")"
	}
	return op + grp + " (" + arg + ")"
}

func (g *ExprGen) binary(depth int) string {
	ops := []string{"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless", "atan2"}
	op := g.pick(ops...)
	set := op == "and" || op == "or" || op == "unless"
	cmp := op == "==" || op == "!=" || op == ">" || op == "<" || op == ">=" || op == "<="
	if !set && g.R.IntN(3) == 0 {
		// Vector/scalar.
		b := ""
		if cmp && g.R.IntN(2) == 0 {
			b = "bool "
		}
		if g.R.IntN(2) == 0 {
			return g.Vector(depth-1) + " " + op + " " + b + g.Scalar(depth-1)
		}
		return g.Scalar(depth-1) + " " + op + " " + b + g.Vector(depth-1)
	}
	mod := ""
	switch g.R.IntN(6) {
	case 0:
		mod = " on (" + g.pick("job", "instance", "job, instance") + ")"
	case 1:
		mod = " ignoring (" + g.pick("job", "instance", "le") + ")"
	case 2:
		if !set {
			mod = " on (" + g.pick("job", "instance") + ") " + g.pick("group_left", "group_right") + g.pick("", " (le)", " (instance)")
		}
	}
	if cmp && g.R.IntN(3) == 0 {
		mod = " bool" + mod
	}
	l, r := g.Vector(depth-1), g.Vector(depth-1)
	if g.R.IntN(2) == 0 {
		// Aggregate one side so matching has a chance to be one-to-one.
		r = g.pick("sum", "max", "count") + " by (" + g.pick("job", "instance", "job, instance") + ") (" + r + ")"
	}
	return l + " " + op + mod + " " + r
}
