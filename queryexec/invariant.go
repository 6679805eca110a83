package queryexec

import "github.com/prometheus/prometheus/promql/parser"

// atModifierUnsafe are the functions whose result depends on the
// evaluation time even when their arguments do not.
var atModifierUnsafe = map[string]bool{
	"days_in_month": true, "day_of_month": true, "day_of_week": true, "day_of_year": true,
	"end": true, "hour": true, "minute": true, "month": true, "year": true,
	"predict_linear": true, "range": true, "start": true, "step": true, "time": true,
	"timestamp": true,
}

// wrapInvariant marks the largest step-invariant subtrees (those whose
// value is the same at every step, because of @) with StepInvariantExpr,
// as Prometheus does: they are evaluated once, at the first step, and
// repeated. It reports whether e is invariant and whether it should be
// wrapped by its parent.
func wrapInvariant(e parser.Expr) (invariant, wrap bool) {
	switch n := e.(type) {
	case *parser.VectorSelector:
		return n.Timestamp != nil, n.Timestamp != nil
	case *parser.AggregateExpr:
		unwrapParen(&n.Expr)
		unwrapParen(&n.Param)
		return wrapInvariant(n.Expr)
	case *parser.BinaryExpr:
		li, lw := wrapInvariant(n.LHS)
		ri, rw := wrapInvariant(n.RHS)
		if li && ri {
			return true, true
		}
		if lw {
			n.LHS = &parser.StepInvariantExpr{Expr: n.LHS}
		}
		if rw {
			n.RHS = &parser.StepInvariantExpr{Expr: n.RHS}
		}
		return false, false
	case *parser.Call:
		inv := !atModifierUnsafe[n.Func.Name]
		tsSafe := n.Func.Name == "timestamp"
		wraps := make([]bool, len(n.Args))
		for i := range n.Args {
			unwrapParen(&n.Args[i])
			var ai bool
			ai, wraps[i] = wrapInvariant(n.Args[i])
			inv = inv && ai
			if _, isVS := n.Args[i].(*parser.VectorSelector); !ai || !isVS {
				tsSafe = false
			}
		}
		if inv || tsSafe {
			return true, true
		}
		for i, w := range wraps {
			if w {
				n.Args[i] = &parser.StepInvariantExpr{Expr: n.Args[i]}
			}
		}
		return false, false
	case *parser.MatrixSelector:
		inv, _ := wrapInvariant(n.VectorSelector)
		return inv, false
	case *parser.SubqueryExpr:
		if inv, _ := wrapInvariant(n.Expr); inv {
			n.Expr = &parser.StepInvariantExpr{Expr: n.Expr}
		}
		return n.Timestamp != nil, false
	case *parser.ParenExpr:
		return wrapInvariant(n.Expr)
	case *parser.UnaryExpr:
		return wrapInvariant(n.Expr)
	case *parser.StringLiteral, *parser.NumberLiteral:
		return true, false
	}
	return false, false
}

func unwrapParen(e *parser.Expr) {
	if *e == nil {
		return
	}
	for {
		p, ok := (*e).(*parser.ParenExpr)
		if !ok {
			return
		}
		*e = p.Expr
	}
}

// evalInvariant evaluates a step-invariant subtree once, at the grid's
// first step, and repeats its value at every step.
func (ev *evaluator) evalInvariant(e *parser.StepInvariantExpr, g grid) (any, error) {
	switch unwrapParens(e.Expr).(type) {
	case *parser.MatrixSelector, *parser.SubqueryExpr:
		return ev.eval(e.Expr, g)
	}
	one := grid{start: g.start, end: g.start, interval: g.interval, n: 1}
	v, err := ev.eval(e.Expr, one)
	if err != nil || g.n == 1 {
		return v, err
	}
	switch v := v.(type) {
	case *scalarVal:
		return ev.constScalar(v.f[0], g), nil
	case *vectorVal:
		for k := range v.s {
			s := &v.s[k]
			f := make([]float64, g.n)
			ok := make([]bool, g.n)
			for i := range f {
				f[i], ok[i] = s.f[0], s.ok[0]
			}
			s.f, s.ok = f, ok
		}
		return v, nil
	}
	return v, nil
}
