package loadgen

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// nodeExporterScrape is one complete, real scrape of prometheus-node-exporter
// 1.5 on a 2-core Linux machine (507 series, with HELP and TYPE lines).
//
//go:embed testdata/node_exporter_scrape.txt
var nodeExporterScrape string

// metricType is the TYPE a family declared in the exposition text.
type metricType uint8

const (
	typeUntyped metricType = iota
	typeCounter
	typeGauge
	typeSummary
	typeHistogram
)

// templateSeries is one series of the template scrape.
type templateSeries struct {
	name      string
	labels    []labels.Label // without __name__; as written in the scrape
	value     float64
	typ       metricType
	help      string // the family's HELP text, unescaped; "" when absent
	valueText string // the value as printed
	// quantum is the resolution the value was printed with (0.01 for
	// "2235.65", 1 for "1.6777216e+07"), so that generated values have as
	// many significant digits as real ones: this is what makes real data
	// compress well or badly, and a generator that prints full float64 noise
	// would flatter no encoder.
	quantum float64
}

// parseTemplate parses the small subset of the Prometheus text exposition
// format that a node_exporter scrape uses: comments, TYPE lines, and sample
// lines `name{l="v",...} value` without timestamps.
func parseTemplate(text string) ([]templateSeries, error) {
	types := map[string]metricType{}
	helps := map[string]string{}
	var out []templateSeries
	for lineNo, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) == 4 && f[1] == "TYPE" {
				types[f[2]] = parseType(f[3])
			}
			if len(f) >= 3 && f[1] == "HELP" {
				helps[f[2]] = unescapeHelp(strings.TrimSpace(strings.SplitN(line, f[2], 2)[1]))
			}
			continue
		}
		s, err := parseSampleLine(line)
		if err != nil {
			return nil, fmt.Errorf("template line %d: %w", lineNo+1, err)
		}
		s.typ = familyType(types, s.name)
		s.help = familyHelp(helps, s.name)
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("template has no samples")
	}
	return out, nil
}

func parseType(s string) metricType {
	switch s {
	case "counter":
		return typeCounter
	case "gauge":
		return typeGauge
	case "summary":
		return typeSummary
	case "histogram":
		return typeHistogram
	}
	return typeUntyped
}

// familyType finds the TYPE of the family a series belongs to; summary and
// histogram series carry suffixes (_sum, _count, _bucket) and are counters
// except for the quantiles themselves.
func familyType(types map[string]metricType, name string) metricType {
	if t, ok := types[name]; ok {
		if t == typeSummary || t == typeHistogram {
			return typeGauge // quantile series move up and down
		}
		return t
	}
	for _, suf := range []string{"_sum", "_count", "_bucket"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if t := types[base]; t == typeSummary || t == typeHistogram {
				return typeCounter
			}
		}
	}
	return typeUntyped
}

// familyHelp finds the HELP text of the family a series belongs to (the
// series' own name, or its name without a summary or histogram suffix).
func familyHelp(helps map[string]string, name string) string {
	if h, ok := helps[name]; ok {
		return h
	}
	for _, suf := range []string{"_sum", "_count", "_bucket"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if h, ok := helps[base]; ok {
				return h
			}
		}
	}
	return ""
}

// unescapeHelp undoes the exposition format's HELP escapes (\\ and \n).
func unescapeHelp(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(s)
}

func parseSampleLine(line string) (templateSeries, error) {
	s, _, err := parseSampleLineTS(line)
	return s, err
}

// parseSampleLineTS parses `name{l="v",...} value [timestamp]` and also
// returns the timestamp's text ("" when absent).
func parseSampleLineTS(line string) (s templateSeries, ts string, err error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, "", fmt.Errorf("no metric name in %q", line)
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if rest == "" {
				return s, "", fmt.Errorf("unterminated label set")
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
				return s, "", fmt.Errorf("bad label pair near %q", rest)
			}
			name := rest[:eq]
			val, n, err := unquoteLabelValue(rest[eq+1:])
			if err != nil {
				return s, "", fmt.Errorf("label %q: %w", name, err)
			}
			s.labels = append(s.labels, labels.Label{Name: name, Value: val})
			rest = rest[eq+1+n:]
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return s, "", fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, "", fmt.Errorf("value %q: %w", f[0], err)
	}
	s.value = v
	s.valueText = f[0]
	s.quantum = quantumOf(f[0])
	if len(f) > 1 {
		ts = f[1]
	}
	if len(f) > 2 {
		return s, "", fmt.Errorf("unexpected %q after the timestamp", f[2])
	}
	return s, ts, nil
}

// unquoteLabelValue reads a double-quoted label value with \\, \" and \n
// escapes from the start of s and returns it with the bytes consumed.
func unquoteLabelValue(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("dangling escape")
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted value")
}

// quantumOf returns the value of one unit in the last significant digit of a
// printed number: "2235.65" → 0.01, "1.6777216e+07" → 1, "0" → 1.
func quantumOf(text string) float64 {
	mant, exp := text, 0
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		mant = text[:i]
		e, err := strconv.Atoi(text[i+1:])
		if err != nil {
			return 1
		}
		exp = e
	}
	mant = strings.TrimLeft(mant, "+-")
	decimals := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		decimals = len(mant) - i - 1
	}
	q := math.Pow(10, float64(exp-decimals))
	if q > 1 && !strings.ContainsAny(text, "eE") {
		q = 1
	}
	// Integers printed in exponent form ("1.6777216e+07") have a quantum of
	// at least 1; nothing real is counted in units of 10^k.
	if q > 1 {
		q = 1
	}
	return q
}
