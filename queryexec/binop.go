package queryexec

import (
	"math"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// metadataLabels are the labels an arithmetic operation or a function
// removes with the metric name.
var metadataLabels = []string{model.MetricNameLabel, "__type__", "__unit__"}

func dropMetadata(l labels.Labels) labels.Labels {
	if l.Get(model.MetricNameLabel) == "" && l.Get("__type__") == "" && l.Get("__unit__") == "" {
		return l
	}
	b := labels.NewBuilder(l)
	b.Del(metadataLabels...)
	return b.Labels()
}

func changesMetricSchema(op parser.ItemType) bool {
	switch op {
	case parser.ADD, parser.SUB, parser.DIV, parser.MUL, parser.POW, parser.MOD, parser.ATAN2:
		return true
	}
	return false
}

func btos(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func scalarBinop(op parser.ItemType, l, r float64) float64 {
	switch op {
	case parser.ADD:
		return l + r
	case parser.SUB:
		return l - r
	case parser.MUL:
		return l * r
	case parser.DIV:
		return l / r
	case parser.POW:
		return math.Pow(l, r)
	case parser.MOD:
		return math.Mod(l, r)
	case parser.EQLC:
		return btos(l == r)
	case parser.NEQ:
		return btos(l != r)
	case parser.GTR:
		return btos(l > r)
	case parser.LSS:
		return btos(l < r)
	case parser.GTE:
		return btos(l >= r)
	case parser.LTE:
		return btos(l <= r)
	case parser.ATAN2:
		return math.Atan2(l, r)
	}
	return math.NaN()
}

// elemBinop returns the value of l op r and whether a comparison keeps it.
func elemBinop(op parser.ItemType, l, r float64) (float64, bool) {
	switch op {
	case parser.ADD:
		return l + r, true
	case parser.SUB:
		return l - r, true
	case parser.MUL:
		return l * r, true
	case parser.DIV:
		return l / r, true
	case parser.POW:
		return math.Pow(l, r), true
	case parser.MOD:
		return math.Mod(l, r), true
	case parser.EQLC:
		return l, l == r
	case parser.NEQ:
		return l, l != r
	case parser.GTR:
		return l, l > r
	case parser.LSS:
		return l, l < r
	case parser.GTE:
		return l, l >= r
	case parser.LTE:
		return l, l <= r
	case parser.ATAN2:
		return math.Atan2(l, r), true
	}
	return 0, false
}

func (ev *evaluator) evalBinary(e *parser.BinaryExpr, g grid) (any, error) {
	lv, err := ev.eval(e.LHS, g)
	if err != nil {
		return nil, err
	}
	rv, err := ev.eval(e.RHS, g)
	if err != nil {
		return nil, err
	}
	switch l := lv.(type) {
	case *scalarVal:
		switch r := rv.(type) {
		case *scalarVal:
			for i := range l.f {
				l.f[i] = scalarBinop(e.Op, l.f[i], r.f[i])
			}
			return l, nil
		case *vectorVal:
			return ev.vectorScalar(e, r, l, true, g)
		}
	case *vectorVal:
		switch r := rv.(type) {
		case *scalarVal:
			return ev.vectorScalar(e, l, r, false, g)
		case *vectorVal:
			var out *vectorVal
			if e.VectorMatching != nil {
				sortMatching(e.VectorMatching)
			}
			switch e.Op {
			case parser.LAND:
				out = ev.vectorAnd(l, r, e.VectorMatching, g, false)
			case parser.LUNLESS:
				out = ev.vectorAnd(l, r, e.VectorMatching, g, true)
			case parser.LOR:
				out = ev.vectorOr(l, r, e.VectorMatching, g)
			default:
				out, err = ev.vectorBinop(e, l, r, g)
				if err != nil {
					return nil, err
				}
			}
			if err := ev.dedupe(out, g); err != nil {
				return nil, err
			}
			return out, nil
		}
	}
	return nil, errorf("binary operator %s between %T and %T", e.Op, lv, rv)
}

// dedupe applies the duplicate-labelset check every step-wise node makes.
func (ev *evaluator) dedupe(v *vectorVal, g grid) error {
	if ev.delayedNameRemoval && g.n == 1 && g.start == g.end {
		return nil
	}
	return checkDuplicates(v, g.n)
}

func (ev *evaluator) vectorScalar(e *parser.BinaryExpr, v *vectorVal, s *scalarVal, swap bool, g grid) (*vectorVal, error) {
	drop := changesMetricSchema(e.Op) || e.ReturnBool
	cmp := e.Op.IsComparisonOperator()
	for k := range v.s {
		vs := &v.s[k]
		any := false
		for i := range g.n {
			if !vs.ok[i] {
				continue
			}
			lf, rf := vs.f[i], s.f[i]
			if swap {
				lf, rf = rf, lf
			}
			f, keep := elemBinop(e.Op, lf, rf)
			if cmp && swap {
				f = rf
			}
			if e.ReturnBool {
				f, keep = btos(keep), true
			}
			if !keep {
				vs.ok[i] = false
				continue
			}
			vs.f[i] = f
			any = true
		}
		if drop && any {
			if ev.delayedNameRemoval {
				vs.dropName = true
			} else {
				vs.lset = dropMetadata(vs.lset)
			}
		}
	}
	v.s = compactSeries(v.s)
	if drop {
		if err := ev.dedupe(v, g); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// compactSeries drops series present at no step.
func compactSeries(s []vseries) []vseries {
	out := s[:0]
	for _, x := range s {
		for _, ok := range x.ok {
			if ok {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// signature returns the matching key of l.
func signature(l labels.Labels, m *parser.VectorMatching, buf []byte) string {
	if m.On {
		return string(l.BytesWithLabels(buf, m.MatchingLabels...))
	}
	names := append([]string{model.MetricNameLabel, "__type__", "__unit__"}, m.MatchingLabels...)
	slices.Sort(names)
	return string(l.BytesWithoutLabels(buf, names...))
}

// sortMatching sorts the matching labels once: signatures need them sorted.
func sortMatching(m *parser.VectorMatching) {
	if !slices.IsSorted(m.MatchingLabels) {
		m.MatchingLabels = slices.Clone(m.MatchingLabels)
		slices.Sort(m.MatchingLabels)
	}
}

func sigPresence(r *vectorVal, m *parser.VectorMatching, n int) map[string][]bool {
	pres := make(map[string][]bool)
	var buf []byte
	for _, s := range r.s {
		sig := signature(s.lset, m, buf)
		p := pres[sig]
		if p == nil {
			p = make([]bool, n)
			pres[sig] = p
		}
		for i, ok := range s.ok {
			if ok {
				p[i] = true
			}
		}
	}
	return pres
}

// vectorAnd keeps the lhs where the rhs has a match (unless: where it has
// none).
func (ev *evaluator) vectorAnd(l, r *vectorVal, m *parser.VectorMatching, g grid, unless bool) *vectorVal {
	pres := sigPresence(r, m, g.n)
	var buf []byte
	for k := range l.s {
		s := &l.s[k]
		p := pres[signature(s.lset, m, buf)]
		for i := range g.n {
			has := p != nil && p[i]
			if has == unless {
				s.ok[i] = false
			}
		}
	}
	l.s = compactSeries(l.s)
	return l
}

func (ev *evaluator) vectorOr(l, r *vectorVal, m *parser.VectorMatching, g grid) *vectorVal {
	pres := sigPresence(l, m, g.n)
	var buf []byte
	for k := range r.s {
		s := &r.s[k]
		p := pres[signature(s.lset, m, buf)]
		if p == nil {
			continue
		}
		for i := range g.n {
			if p[i] {
				s.ok[i] = false
			}
		}
	}
	l.s = append(l.s, compactSeries(r.s)...)
	return l
}

// vectorBinop is arithmetic or comparison between two vectors with
// one-to-one, many-to-one or one-to-many matching.
func (ev *evaluator) vectorBinop(e *parser.BinaryExpr, lhs, rhs *vectorVal, g grid) (*vectorVal, error) {
	m := e.VectorMatching
	sortMatching(m)
	fill := m.FillValues
	fillL, fillR := fill.LHS, fill.RHS
	if len(lhs.s) == 0 && len(rhs.s) == 0 || (len(lhs.s) == 0 || len(rhs.s) == 0) && fillL == nil && fillR == nil {
		return &vectorVal{}, nil
	}
	oneToMany := m.Card == parser.CardOneToMany
	if oneToMany {
		lhs, rhs = rhs, lhs
		fillL, fillR = fillR, fillL
	}
	var buf []byte
	// Signatures as small integers.
	sigIdx := map[string]int{}
	sigOf := func(l labels.Labels) int {
		s := signature(l, m, buf)
		i, ok := sigIdx[s]
		if !ok {
			i = len(sigIdx)
			sigIdx[s] = i
		}
		return i
	}
	lsig := make([]int, len(lhs.s))
	for k := range lhs.s {
		lsig[k] = sigOf(lhs.s[k].lset)
	}
	rsig := make([]int, len(rhs.s))
	for k := range rhs.s {
		rsig[k] = sigOf(rhs.s[k].lset)
	}
	nsig := len(sigIdx)
	rightAt := make([]int, nsig)     // rhs series present at the step, by signature
	matchedAt := make([]int, nsig)   // step+1 at which the signature was matched (one-to-one)
	matchedAny := make([]bool, nsig) // matched at the current step, for fill
	type pair struct{ l, r int }
	outIdx := map[pair]int{}
	out := &vectorVal{}
	outKey := map[string]int{}
	setAt := []int{} // step+1 at which out series was set
	dropNow := !ev.delayedNameRemoval && e.ReturnBool
	resultLabels := func(ll, rl labels.Labels) labels.Labels {
		b := labels.NewBuilder(ll)
		if dropNow || changesMetricSchema(e.Op) {
			b.Del(metadataLabels...)
		}
		if m.Card == parser.CardOneToOne {
			if m.On {
				b.Keep(m.MatchingLabels...)
			} else {
				b.Del(m.MatchingLabels...)
			}
		}
		for _, ln := range m.Include {
			if v := rl.Get(ln); v != "" {
				b.Set(ln, v)
			} else {
				b.Del(ln)
			}
		}
		return b.Labels()
	}
	getOut := func(li, ri int, ll, rl labels.Labels) int {
		p := pair{li, ri}
		if o, ok := outIdx[p]; ok {
			return o
		}
		lset := resultLabels(ll, rl)
		key := string(lset.Bytes(nil))
		o, ok := outKey[key]
		if !ok {
			o = len(out.s)
			out.s = append(out.s, vseries{lset: lset, f: make([]float64, g.n), ok: make([]bool, g.n), dropName: e.ReturnBool})
			setAt = append(setAt, 0)
			outKey[key] = o
		}
		outIdx[p] = o
		return o
	}
	// Many-to-one: output series seen per signature at this step.
	for i := range g.n {
		for s := range rightAt {
			rightAt[s] = -1
		}
		for k := range rhs.s {
			if !rhs.s[k].ok[i] {
				continue
			}
			s := rsig[k]
			if prev := rightAt[s]; prev >= 0 {
				side := "right"
				if oneToMany {
					side = "left"
				}
				var ml labels.Labels
				if m.On {
					ml = rhs.s[k].lset.MatchLabels(true, m.MatchingLabels...)
				} else {
					ml = rhs.s[k].lset.MatchLabels(false, append([]string{model.MetricNameLabel, "__type__", "__unit__"}, m.MatchingLabels...)...)
				}
				d1, d2 := rhs.s[k].lset.String(), rhs.s[prev].lset.String()
				if d1 > d2 {
					d1, d2 = d2, d1
				}
				return nil, errorf("found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];many-to-many matching not allowed: matching labels must be unique on one side", ml.String(), side, d1, d2)
			}
			rightAt[s] = k
		}
		clear(matchedAny)
		do := func(li, ri int, lf, rf float64, ll, rl labels.Labels, s int) error {
			if oneToMany {
				lf, rf = rf, lf
			}
			f, keep := elemBinop(e.Op, lf, rf)
			if e.ReturnBool {
				f = btos(keep)
			}
			o := getOut(li, ri, ll, rl)
			if m.Card == parser.CardOneToOne {
				if matchedAt[s] == i+1 {
					return errorf("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
				}
				matchedAt[s] = i + 1
			} else if setAt[o] == i+1 {
				return errorf("multiple matches for labels: grouping labels must ensure unique matches")
			}
			matchedAny[s] = true
			if !keep && !e.ReturnBool {
				if m.Card != parser.CardOneToOne {
					setAt[o] = i + 1
				}
				return nil
			}
			if setAt[o] == i+1 {
				return errDuplicateLabelset
			}
			setAt[o] = i + 1
			out.s[o].f[i], out.s[o].ok[i] = f, true
			return nil
		}
		for k := range lhs.s {
			ls := &lhs.s[k]
			if !ls.ok[i] {
				continue
			}
			s := lsig[k]
			r := rightAt[s]
			if r < 0 {
				if fillR == nil {
					continue
				}
				ml := matchOnly(ls.lset, m)
				if err := do(k, -1-s, ls.f[i], *fillR, ls.lset, ml, s); err != nil {
					return nil, err
				}
				continue
			}
			if err := do(k, r, ls.f[i], rhs.s[r].f[i], ls.lset, rhs.s[r].lset, s); err != nil {
				return nil, err
			}
		}
		if fillL != nil {
			for k := range rhs.s {
				rs := &rhs.s[k]
				if !rs.ok[i] || matchedAny[rsig[k]] {
					continue
				}
				ml := matchOnly(rs.lset, m)
				if err := do(-1-k, k, *fillL, rs.f[i], ml, rs.lset, rsig[k]); err != nil {
					return nil, err
				}
			}
		}
	}
	out.s = compactSeries(out.s)
	return out, nil
}

func matchOnly(l labels.Labels, m *parser.VectorMatching) labels.Labels {
	if m.On {
		return l.MatchLabels(true, m.MatchingLabels...)
	}
	return l.MatchLabels(false, append([]string{model.MetricNameLabel, "__type__", "__unit__"}, m.MatchingLabels...)...)
}
