package queryexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/stages"
)

// The conformance runner reads Prometheus v3.16.0's own PromQL test scripts
// from shared/conformance/promql/testdata (never copied into this repo),
// loads their data into a real pipeline database and compares every eval
// the way Prometheus's runner does. See shared/conformance/promql/README.md
// for the script language and the scope.

// inScopeFiles must pass; stretchFiles are counted on their own line;
// native_histograms is out of scope and skipped whole.
var (
	inScopeFiles = []string{"aggregators", "at_modifier", "collision", "duration_expression", "extended_vectors",
		"functions", "histograms", "limit", "literals", "name_label_dropping", "operators", "range_queries",
		"selectors", "staleness", "subquery", "trig_functions"}
	stretchFiles = []string{"fill-modifier", "info", "type_and_unit", "start_timestamps", "unquoted_utf8_names"}
)

// conformanceDir finds the corpus: TSDB_CONFORMANCE_DIR, or the first
// shared/conformance/promql/testdata found walking up from the package dir.
func conformanceDir() string {
	if d := os.Getenv("TSDB_CONFORMANCE_DIR"); d != "" {
		if st, err := os.Stat(filepath.Join(d, "testdata")); err == nil && st.IsDir() {
			return filepath.Join(d, "testdata")
		}
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "conformance", "promql", "testdata")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

type confCounts struct {
	passed, failed, skipped int
	// status by line of the eval (or load) command: 'p', 'f' or 's'.
	status map[int]byte
}

func (c *confCounts) add(o confCounts) {
	c.passed += o.passed
	c.failed += o.failed
	c.skipped += o.skipped
}

func TestConformance(t *testing.T) {
	if one := os.Getenv("TSDB_CONFORMANCE_ONLY"); one != "" {
		c, fails := runConformanceFile(t, one, os.Getenv("TSDB_CONFORMANCE_MODE") == "blocks", true)
		for _, f := range fails {
			t.Log(f)
		}
		t.Logf("%s: %d passed, %d failed, %d skipped", one, c.passed, c.failed, c.skipped)
		return
	}
	dir := conformanceDir()
	if dir == "" {
		t.Skip("conformance corpus not found (set TSDB_CONFORMANCE_DIR or provide ../shared/conformance/promql)")
	}
	verbose := os.Getenv("TSDB_CONFORMANCE_VERBOSE") != ""
	// An eval passes when it passes from the head and from blocks (the
	// data compacted into blocks after each load).
	var total, stretch confCounts
	modes := []string{"head", "blocks"}
	if m := os.Getenv("TSDB_CONFORMANCE_MODE"); m != "" {
		modes = []string{m}
	}
	for _, group := range [][]string{inScopeFiles, stretchFiles} {
		isStretch := slices.Equal(group, stretchFiles)
		for _, name := range group {
			path := filepath.Join(dir, name+".test")
			var per []confCounts
			for _, mode := range modes {
				c, fails := runConformanceFile(t, path, mode == "blocks", isStretch)
				t.Logf("%s [%s]: %d passed, %d failed, %d skipped", name, mode, c.passed, c.failed, c.skipped)
				if verbose {
					for _, f := range fails {
						t.Logf("  %s", f)
					}
				}
				per = append(per, c)
			}
			var all confCounts
			for line, st := range per[0].status {
				for _, o := range per[1:] {
					if o.status[line] == 'f' {
						st = 'f'
					}
				}
				switch st {
				case 'p':
					all.passed++
				case 'f':
					all.failed++
				case 's':
					all.skipped++
				}
			}
			fmt.Printf("%s: %d passed, %d failed, %d skipped\n", name, all.passed, all.failed, all.skipped)
			if isStretch {
				stretch.add(all)
			} else {
				total.add(all)
			}
		}
	}
	fmt.Printf("conformance stretch: %d passed, %d failed, %d skipped\n", stretch.passed, stretch.failed, stretch.skipped)
	fmt.Printf("conformance: %d passed, %d failed, %d skipped\n", total.passed, total.failed, total.skipped)
	floor := readFloor(t)
	if total.passed < floor {
		t.Fatalf("conformance: %d passed, below the recorded floor of %d (testdata/conformance_floor)", total.passed, floor)
	}
}

func readFloor(t *testing.T) int {
	b, err := os.ReadFile("testdata/conformance_floor")
	if err != nil {
		t.Fatalf("read floor: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("floor: %v", err)
	}
	return n
}

// confRun is one file's run: its database and the histogram series seen.
type confRun struct {
	t        *testing.T
	blocks   bool
	db       *pipeline.DB
	eng      *Engine
	hist     []labels.Labels // native-histogram series loaded (skipped)
	p        parser.Parser
	stretch  bool
	nextTemp int
	// loads holds every batch loaded since the last clear: blocks mode
	// rebuilds the database from them on each load (a head cut makes
	// earlier timestamps too old for the head).
	loads []*stages.Batch
}

func (r *confRun) open() {
	if r.db != nil {
		r.db.Close()
	}
	dir := filepath.Join(r.t.TempDir(), strconv.Itoa(r.nextTemp))
	r.nextTemp++
	db, err := pipeline.Open(dir, pipeline.Options{Shards: 2, HeadGCInterval: -1})
	if err != nil {
		r.t.Fatal(err)
	}
	r.db = db
	r.eng = NewEngine(db, Options{
		EnableExperimentalFunctions: true,
		EnableDelayedNameRemoval:    true,
		EnableBinopFillModifiers:    true,
		EnableUnquotedUTF8Names:     r.stretch,
		Timeout:                     100 * time.Second,
	})
}

func runConformanceFile(t *testing.T, path string, blocks, stretch bool) (confCounts, []string) {
	f, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	r := &confRun{t: t, blocks: blocks, stretch: stretch}
	r.p = parser.NewParser(parser.Options{EnableExperimentalFunctions: true, EnableBinopFillModifiers: true, EnableUnquotedUTF8Names: stretch})
	r.open()
	defer func() { r.db.Close() }()
	c := confCounts{status: map[int]byte{}}
	var fails []string
	lines := strings.Split(string(f), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
		if strings.HasPrefix(lines[i], "#") {
			lines[i] = ""
		}
	}
	base := filepath.Base(path)
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		j := i + 1
		for j < len(lines) && lines[j] != "" && l != "clear" {
			j++
		}
		block := lines[i+1 : j]
		lineNo := i + 1
		i = j - 1
		switch {
		case l == "clear":
			r.open()
			r.hist, r.loads = nil, nil
		case strings.HasPrefix(l, "load"):
			if err := r.load(l, block); err != nil {
				c.failed++
				c.status[lineNo] = 'f'
				fails = append(fails, fmt.Sprintf("%s:%d: load: %v", base, lineNo, err))
			}
		case strings.HasPrefix(l, "eval"):
			skip, err := r.eval(l, block)
			switch {
			case skip:
				c.skipped++
				c.status[lineNo] = 's'
			case err != nil:
				c.failed++
				c.status[lineNo] = 'f'
				fails = append(fails, fmt.Sprintf("%s:%d: %s: %v", base, lineNo, l, err))
			default:
				c.passed++
				c.status[lineNo] = 'p'
			}
		default:
			c.failed++
			fails = append(fails, fmt.Sprintf("%s:%d: unknown command %q", base, lineNo, l))
		}
	}
	return c, fails
}

func (r *confRun) load(head string, block []string) error {
	fields := strings.Fields(head)
	if len(fields) != 2 || (fields[0] != "load" && fields[0] != "load_with_nhcb") {
		return fmt.Errorf("bad load line %q", head)
	}
	gap, err := model.ParseDuration(fields[1])
	if err != nil {
		return err
	}
	nhcb := fields[0] == "load_with_nhcb"
	type ser struct {
		lset labels.Labels
		vals []parser.SequenceValue
	}
	var order []string
	bySeries := map[string]ser{}
	for k := 0; k < len(block); k++ {
		l := block[k]
		if idx := strings.Index(l, "@st "); idx >= 0 && !strings.Contains(l[:idx], " ") {
			continue // start timestamps: not modelled; the samples line follows
		}
		if strings.Contains(l, "{{") {
			lset, _, err := r.p.ParseSeriesDesc(l)
			if err == nil {
				r.hist = append(r.hist, lset)
			}
			continue
		}
		lset, vals, err := r.p.ParseSeriesDesc(l)
		if err != nil {
			return fmt.Errorf("%q: %w", l, err)
		}
		if nhcb {
			name := lset.Get(model.MetricNameLabel)
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				if strings.HasSuffix(name, suf) {
					b := labels.NewBuilder(lset)
					b.Set(model.MetricNameLabel, strings.TrimSuffix(name, suf))
					b.Del("le")
					r.hist = append(r.hist, b.Labels())
				}
			}
		}
		key := lset.String()
		if _, ok := bySeries[key]; !ok {
			order = append(order, key)
		}
		bySeries[key] = ser{lset, vals}
	}
	b := &stages.Batch{}
	for _, key := range order {
		s := bySeries[key]
		ref := b.AddSeries(s.lset, nil)
		for k, v := range s.vals {
			if v.Omitted {
				continue
			}
			b.AddSample(ref, int64(k)*gap.Milliseconds(), v.Value)
		}
	}
	r.loads = append(r.loads, b)
	batches := []*stages.Batch{b}
	if r.blocks {
		r.open()
		batches = r.loads
	}
	for _, b := range batches {
		st, err := r.db.Append(context.Background(), b)
		if err != nil {
			return err
		}
		if st.Rejected() > 0 {
			return fmt.Errorf("storage rejected samples: %+v", st)
		}
	}
	if r.blocks {
		if err := r.db.Compact(context.Background(), true); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
	}
	return nil
}

var (
	reInstant = regexp.MustCompile(`^(eval(?:_fail|_warn|_ordered|_info)?)\s+instant\s+at\s+(\S+)\s+(.+)$`)
	reRange   = regexp.MustCompile(`^(eval(?:_fail|_warn|_info)?)\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$`)
)

func parseTestDuration(s string) (time.Duration, error) {
	neg := strings.HasPrefix(s, "-")
	d, err := model.ParseDuration(strings.TrimPrefix(s, "-"))
	if err != nil {
		return 0, err
	}
	if neg {
		return -time.Duration(d), nil
	}
	return time.Duration(d), nil
}

type expectLine struct {
	kind string // fail warn info no_warn no_info ordered string range
	msg  string
	re   *regexp.Regexp
	arg  string
}

func (e expectLine) matches(s string) bool {
	if e.re != nil {
		return e.re.MatchString(s)
	}
	if e.msg != "" {
		return strings.TrimSpace(s) == e.msg
	}
	return true
}

// eval runs one eval command; skip reports an eval that needs native
// histograms.
func (r *confRun) eval(head string, block []string) (skip bool, err error) {
	var cmd, expr string
	var start, end, step time.Duration
	isRange := false
	if m := reInstant.FindStringSubmatch(head); m != nil {
		cmd, expr = m[1], m[3]
		if start, err = parseTestDuration(m[2]); err != nil {
			return false, err
		}
		end = start
	} else if m := reRange.FindStringSubmatch(head); m != nil {
		isRange = true
		cmd, expr = m[1], m[5]
		if start, err = parseTestDuration(m[2]); err != nil {
			return false, err
		}
		if end, err = parseTestDuration(m[3]); err != nil {
			return false, err
		}
		if step, err = parseTestDuration(m[4]); err != nil {
			return false, err
		}
	} else {
		return false, fmt.Errorf("bad eval line")
	}
	var expects []expectLine
	var results []string
	for _, l := range block {
		if !strings.HasPrefix(l, "expect ") && !strings.HasPrefix(l, "expected_fail_") {
			results = append(results, l)
			continue
		}
		if strings.HasPrefix(l, "expected_fail_message ") {
			expects = append(expects, expectLine{kind: "fail", msg: strings.TrimSpace(strings.TrimPrefix(l, "expected_fail_message "))})
			continue
		}
		if strings.HasPrefix(l, "expected_fail_regexp ") {
			re, err := regexp.Compile(strings.TrimSpace(strings.TrimPrefix(l, "expected_fail_regexp ")))
			if err != nil {
				return false, err
			}
			expects = append(expects, expectLine{kind: "fail", re: re})
			continue
		}
		rest := strings.TrimSpace(strings.TrimPrefix(l, "expect "))
		kind, arg, _ := strings.Cut(rest, " ")
		el := expectLine{kind: kind, arg: strings.TrimSpace(arg)}
		switch {
		case strings.HasPrefix(el.arg, "msg:"):
			el.msg = strings.TrimSpace(strings.TrimPrefix(el.arg, "msg:"))
		case strings.HasPrefix(el.arg, "regex:"):
			re, err := regexp.Compile(strings.TrimSpace(strings.TrimPrefix(el.arg, "regex:")))
			if err != nil {
				return false, err
			}
			el.re = re
		}
		expects = append(expects, el)
	}
	switch cmd {
	case "eval_fail":
		expects = append(expects, expectLine{kind: "fail"})
	case "eval_warn":
		expects = append(expects, expectLine{kind: "warn"})
	case "eval_info":
		expects = append(expects, expectLine{kind: "info"})
	case "eval_ordered":
		expects = append(expects, expectLine{kind: "ordered"})
	}
	for _, l := range results {
		if strings.Contains(l, "{{") {
			return true, nil
		}
	}
	if r.touchesHistograms(expr) {
		return true, nil
	}
	has := func(kind string) []expectLine {
		var out []expectLine
		for _, e := range expects {
			if e.kind == kind {
				out = append(out, e)
			}
		}
		return out
	}
	ctx := context.Background()
	if isRange {
		res, err := r.eng.Range(ctx, expr, time.UnixMilli(start.Milliseconds()), time.UnixMilli(end.Milliseconds()), step, QueryOpts{})
		return false, r.check(res, err, has, results, true, start.Milliseconds(), step.Milliseconds())
	}
	// As Prometheus's runner: an instant eval also runs with every selector
	// and subquery at @ its time, evaluated at other times, and each of
	// these in range mode (the middle step of a 1 m range query around its
	// time must give the same vector).
	variants, err := r.atVariants(expr, start.Milliseconds())
	if err != nil {
		return false, err
	}
	queries := append([]instantCase{{expr: expr, t: start.Milliseconds()}}, variants...)
	for _, iq := range queries {
		res, err := r.eng.Instant(ctx, iq.expr, time.UnixMilli(iq.t), QueryOpts{})
		if err := r.check(res, err, has, results, false, 0, 0); err != nil {
			if iq.expr != expr || iq.t != start.Milliseconds() {
				return false, fmt.Errorf("%s at %d: %w", iq.expr, iq.t, err)
			}
			return false, err
		}
		if err != nil || len(has("fail")) > 0 || len(has("string")) > 0 || len(has("range")) > 0 || reQueryContextFuncs.MatchString(iq.expr) {
			continue
		}
		if err := r.checkRangeMode(ctx, iq, results, len(has("ordered")) > 0, res.Type == ValueScalar); err != nil {
			return false, err
		}
	}
	return false, nil
}

// instantCase is one instant query of an instant eval.
type instantCase struct {
	expr string
	t    int64
}

// reQueryContextFuncs: expressions whose value depends on the query's own
// range or step are not compared in range mode.
var reQueryContextFuncs = regexp.MustCompile(`(start|end|range|step)\(\)`)

// atVariants returns expr with @ t on every selector and subquery that has
// none (not inside a subquery that has one), to be evaluated at -10t, 0,
// t/5, t and 10t (-1000, 0 and 1000 when t is 0); none when expr uses a
// function that depends on the evaluation time.
func (r *confRun) atVariants(expr string, t int64) ([]instantCase, error) {
	e, err := r.eng.Parse(expr)
	if err != nil {
		return nil, nil // the eval itself checks the parse error
	}
	unsafe := false
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		for _, p := range path {
			if sq, ok := p.(*parser.SubqueryExpr); ok && sq.Timestamp != nil {
				return nil
			}
		}
		at := func(ts **int64) {
			if *ts == nil {
				v := t
				*ts = &v
			}
		}
		switch n := n.(type) {
		case *parser.VectorSelector:
			at(&n.Timestamp)
		case *parser.MatrixSelector:
			at(&n.VectorSelector.(*parser.VectorSelector).Timestamp)
		case *parser.SubqueryExpr:
			at(&n.Timestamp)
		case *parser.Call:
			unsafe = unsafe || atModifierUnsafe[n.Func.Name] // invariant.go
		}
		return nil
	})
	if unsafe {
		return nil, nil
	}
	s := e.String()
	times := []int64{-10 * t, 0, t / 5, t, 10 * t}
	if t == 0 {
		times = []int64{-1000, 0, 1000}
	}
	out := make([]instantCase, 0, len(times))
	for _, et := range times {
		out = append(out, instantCase{expr: s, t: et})
	}
	return out, nil
}

// checkRangeMode runs iq as a range query from t-1m to t+1m at a 1 m step
// and compares its sorted result's points at t with the expected vector.
func (r *confRun) checkRangeMode(ctx context.Context, iq instantCase, results []string, ordered, scalar bool) error {
	res, err := r.eng.Range(ctx, iq.expr, time.UnixMilli(iq.t-60_000), time.UnixMilli(iq.t+60_000), time.Minute, QueryOpts{})
	if err != nil {
		return fmt.Errorf("%s at %d in range mode: %w", iq.expr, iq.t, err)
	}
	if ordered {
		return nil // range results are sorted by labels
	}
	if !slices.IsSortedFunc(res.Matrix, func(a, b Series) int { return labels.Compare(a.Metric, b.Metric) }) {
		return fmt.Errorf("%s at %d in range mode: result not sorted by labels", iq.expr, iq.t)
	}
	vec := &Result{Type: ValueVector}
	for _, s := range res.Matrix {
		for _, p := range s.Floats {
			if p.T == iq.t {
				vec.Vector = append(vec.Vector, Sample{Metric: s.Metric, T: p.T, F: p.F})
				break
			}
		}
	}
	if scalar {
		if len(vec.Vector) == 0 {
			return fmt.Errorf("%s at %d in range mode: no point at the middle step", iq.expr, iq.t)
		}
		vec = &Result{Type: ValueScalar, Scalar: FPoint{T: iq.t, F: vec.Vector[0].F}}
	}
	if err := r.compareInstant(vec, results, false); err != nil {
		return fmt.Errorf("%s at %d in range mode: %w", iq.expr, iq.t, err)
	}
	return nil
}

// check compares one query's outcome with an eval's expectations.
func (r *confRun) check(res *Result, err error, has func(string) []expectLine, results []string, isRange bool, start, step int64) error {
	if fl := has("fail"); len(fl) > 0 {
		if err == nil {
			return fmt.Errorf("expected an error, got none")
		}
		for _, e := range fl {
			if !e.matches(err.Error()) {
				return fmt.Errorf("error %q does not match the expected one", err.Error())
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if err := checkAnnotations("warn", res.Warnings, has("warn"), len(has("no_warn")) > 0); err != nil {
		return err
	}
	if err := checkAnnotations("info", res.Infos, has("info"), len(has("no_info")) > 0); err != nil {
		return err
	}
	if s := has("string"); len(s) > 0 {
		want, uerr := strconv.Unquote(s[0].arg)
		if uerr != nil {
			return uerr
		}
		if res.Type != ValueString || res.String != want {
			return fmt.Errorf("want string %q, got %s %q", want, res.Type, res.String)
		}
		return nil
	}
	if rv := has("range"); len(rv) > 0 {
		// expect range vector from <a> to <b> step <s>
		f := strings.Fields(rv[0].arg)
		if len(f) != 7 {
			return fmt.Errorf("bad range vector expectation %q", rv[0].arg)
		}
		a, _ := parseTestDuration(f[2])
		s, _ := parseTestDuration(f[6])
		if res.Type != ValueMatrix {
			return fmt.Errorf("want a range vector, got %s", res.Type)
		}
		return r.compareMatrix(res.Matrix, results, a.Milliseconds(), s.Milliseconds(), false)
	}
	if isRange {
		if res.Type != ValueMatrix {
			return fmt.Errorf("range query returned %s", res.Type)
		}
		return r.compareMatrix(res.Matrix, results, start, step, true)
	}
	return r.compareInstant(res, results, len(has("ordered")) > 0)
}

func checkAnnotations(kind string, got []string, want []expectLine, none bool) error {
	if none && len(got) > 0 {
		return fmt.Errorf("unexpected %s annotations: %q", kind, got)
	}
	if len(want) == 0 {
		return nil
	}
	if len(got) == 0 {
		return fmt.Errorf("expected %s annotations, got none", kind)
	}
	for _, g := range got {
		if !slices.ContainsFunc(want, func(e expectLine) bool { return e.matches(g) }) {
			return fmt.Errorf("unexpected %s annotation %q", kind, g)
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, w.matches) {
			return fmt.Errorf("expected %s annotation %q/%v not returned (got %q)", kind, w.msg, w.re, got)
		}
	}
	return nil
}

// touchesHistograms reports whether a selector of expr matches a native
// histogram series loaded so far.
func (r *confRun) touchesHistograms(expr string) bool {
	if len(r.hist) == 0 {
		return false
	}
	e, err := r.p.ParseExpr(expr)
	if err != nil {
		return false
	}
	found := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok || found {
			return nil
		}
		for _, h := range r.hist {
			all := true
			for _, m := range vs.LabelMatchers {
				if !m.Matches(h.Get(m.Name)) {
					all = false
					break
				}
			}
			if all {
				found = true
				return nil
			}
		}
		return nil
	})
	return found
}

type expSeries struct {
	lset labels.Labels
	vals []parser.SequenceValue
}

func (r *confRun) parseExpected(results []string) (scalar *float64, out []expSeries, err error) {
	for _, l := range results {
		if f, perr := parseNumber(l); perr == nil {
			scalar = &f
			continue
		}
		lset, vals, perr := r.p.ParseSeriesDesc(l)
		if perr != nil {
			return nil, nil, fmt.Errorf("expected line %q: %w", l, perr)
		}
		out = append(out, expSeries{lset, vals})
	}
	return scalar, out, nil
}

func parseNumber(s string) (float64, error) {
	switch strings.ToLower(s) {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

func (r *confRun) compareInstant(res *Result, results []string, ordered bool) error {
	scalar, exp, err := r.parseExpected(results)
	if err != nil {
		return err
	}
	if scalar != nil {
		if res.Type != ValueScalar {
			return fmt.Errorf("want scalar %v, got %s", *scalar, res.Type)
		}
		if !almostEqual(*scalar, res.Scalar.F) {
			return fmt.Errorf("want scalar %v, got %v", *scalar, res.Scalar.F)
		}
		return nil
	}
	if res.Type == ValueScalar {
		return fmt.Errorf("got scalar %v, want a vector of %d series", res.Scalar.F, len(exp))
	}
	if res.Type != ValueVector {
		return fmt.Errorf("got %s, want a vector", res.Type)
	}
	if len(res.Vector) != len(exp) {
		return fmt.Errorf("got %d series, want %d: %s", len(res.Vector), len(exp), fmtVector(res.Vector))
	}
	for k, e := range exp {
		if len(e.vals) != 1 {
			return fmt.Errorf("expected series %s has %d values for an instant query", e.lset, len(e.vals))
		}
		idx := -1
		for i, s := range res.Vector {
			if labels.Equal(s.Metric, e.lset) {
				idx = i
				break
			}
		}
		if idx < 0 {
			return fmt.Errorf("series %s missing from %s", e.lset, fmtVector(res.Vector))
		}
		if ordered && idx != k {
			return fmt.Errorf("series %s at position %d, want %d", e.lset, idx, k)
		}
		if !almostEqual(e.vals[0].Value, res.Vector[idx].F) {
			return fmt.Errorf("series %s: got %v, want %v", e.lset, res.Vector[idx].F, e.vals[0].Value)
		}
	}
	return nil
}

func fmtVector(v []Sample) string {
	var b strings.Builder
	for _, s := range v {
		fmt.Fprintf(&b, "%s=%v ", s.Metric, s.F)
	}
	return b.String()
}

func (r *confRun) compareMatrix(m []Series, results []string, start, step int64, sorted bool) error {
	_, exp, err := r.parseExpected(results)
	if err != nil {
		return err
	}
	if sorted && !slices.IsSortedFunc(m, func(a, b Series) int { return labels.Compare(a.Metric, b.Metric) }) {
		return fmt.Errorf("range result not sorted by labels")
	}
	if len(m) != len(exp) {
		var names []string
		for _, s := range m {
			names = append(names, fmt.Sprintf("%s%v", s.Metric, s.Floats))
		}
		return fmt.Errorf("got %d series, want %d: %s", len(m), len(exp), strings.Join(names, " "))
	}
	for _, e := range exp {
		idx := slices.IndexFunc(m, func(s Series) bool { return labels.Equal(s.Metric, e.lset) })
		if idx < 0 {
			return fmt.Errorf("series %s missing", e.lset)
		}
		var want []FPoint
		for k, v := range e.vals {
			if v.Omitted {
				continue
			}
			want = append(want, FPoint{T: start + int64(k)*step, F: v.Value})
		}
		got := m[idx].Floats
		if len(got) != len(want) {
			return fmt.Errorf("series %s: got %v, want %v", e.lset, got, want)
		}
		for k := range want {
			if got[k].T != want[k].T || !almostEqual(want[k].F, got[k].F) {
				return fmt.Errorf("series %s: got %v, want %v", e.lset, got, want)
			}
		}
	}
	return nil
}

// almostEqual is the comparison of Prometheus's test runner.
func almostEqual(a, b float64) bool {
	const eps = 1e-6
	const minNormal = 2.2250738585072014e-308
	if value.IsStaleNaN(a) || value.IsStaleNaN(b) {
		return value.IsStaleNaN(a) && value.IsStaleNaN(b)
	}
	if math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	if a == b {
		return true
	}
	absSum := math.Abs(a) + math.Abs(b)
	diff := math.Abs(a - b)
	if a == 0 || b == 0 || absSum < minNormal {
		return diff < eps*minNormal
	}
	return diff/math.Min(absSum, math.MaxFloat64) < eps
}

var _ = errors.New
var _ = bufio.NewReader
