package httpfast

import (
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/valyala/fasthttp"
)

// apiParseQuery answers /api/v1/parse_query: the expression's syntax tree
// as JSON in the node shapes Prometheus's UI (and ours) reads: every node
// an object with "type" (aggregation, binaryExpr, call, matrixSelector,
// subquery, numberLiteral, parenExpr, stringLiteral, unaryExpr,
// vectorSelector, durationExpr) and that node's fields; durations in ms.
func apiParseQuery(ctx *fasthttp.RequestCtx, _ *QueryBackend) apiResult {
	expr, err := promParser.ParseExpr(formValue(ctx, "query"))
	if err != nil {
		return apiResult{err: invalidParam(err, "query")}
	}
	return apiResult{data: astJSON(expr)}
}

type obj = map[string]any

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func matchersJSON(ms []*labels.Matcher) []obj {
	out := make([]obj, 0, len(ms))
	for _, m := range ms {
		out = append(out, obj{"type": m.Type.String(), "name": m.Name, "value": m.Value})
	}
	return out
}

func startOrEnd(t parser.ItemType) any {
	if t == 0 {
		return nil
	}
	return t.String()
}

func numberText(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// durationJSON is a duration expression (offset, range, step): nil when
// absent, numbers with their duration flag.
func durationJSON(e parser.Expr) any {
	switch n := e.(type) {
	case nil:
		return nil
	case *parser.DurationExpr:
		if n == nil {
			return nil
		}
		return obj{"type": "durationExpr", "op": n.Op.String(), "lhs": durationJSON(n.LHS), "rhs": durationJSON(n.RHS), "wrapped": n.Wrapped}
	case *parser.NumberLiteral:
		if n == nil {
			return nil
		}
		return obj{"type": "numberLiteral", "val": numberText(n.Val), "duration": n.Duration}
	}
	return astJSON(e)
}

// astJSON converts one node (recursively).
func astJSON(e parser.Expr) any {
	switch n := e.(type) {
	case nil:
		return nil
	case *parser.NumberLiteral:
		return obj{"type": "numberLiteral", "val": numberText(n.Val)}
	case *parser.StringLiteral:
		return obj{"type": "stringLiteral", "val": n.Val}
	case *parser.ParenExpr:
		return obj{"type": "parenExpr", "expr": astJSON(n.Expr)}
	case *parser.UnaryExpr:
		return obj{"type": "unaryExpr", "op": n.Op.String(), "expr": astJSON(n.Expr)}
	case *parser.DurationExpr:
		return durationJSON(n)
	case *parser.VectorSelector:
		return obj{
			"type": "vectorSelector", "name": n.Name, "matchers": matchersJSON(n.LabelMatchers),
			"offset": n.OriginalOffset.Milliseconds(), "offsetExpr": durationJSON(n.OriginalOffsetExpr),
			"timestamp": n.Timestamp, "startOrEnd": startOrEnd(n.StartOrEnd),
			"anchored": n.Anchored, "smoothed": n.Smoothed,
		}
	case *parser.MatrixSelector:
		vs, _ := n.VectorSelector.(*parser.VectorSelector)
		if vs == nil {
			return nil
		}
		return obj{
			"type": "matrixSelector", "name": vs.Name, "matchers": matchersJSON(vs.LabelMatchers),
			"range": n.Range.Milliseconds(), "rangeExpr": durationJSON(n.RangeExpr),
			"offset": vs.OriginalOffset.Milliseconds(), "offsetExpr": durationJSON(vs.OriginalOffsetExpr),
			"timestamp": vs.Timestamp, "startOrEnd": startOrEnd(vs.StartOrEnd),
			"anchored": vs.Anchored, "smoothed": vs.Smoothed,
		}
	case *parser.SubqueryExpr:
		return obj{
			"type": "subquery", "expr": astJSON(n.Expr),
			"range": n.Range.Milliseconds(), "rangeExpr": durationJSON(n.RangeExpr),
			"offset": n.OriginalOffset.Milliseconds(), "offsetExpr": durationJSON(n.OriginalOffsetExpr),
			"step": n.Step.Milliseconds(), "stepExpr": durationJSON(n.StepExpr),
			"timestamp": n.Timestamp, "startOrEnd": startOrEnd(n.StartOrEnd),
		}
	case *parser.AggregateExpr:
		return obj{
			"type": "aggregation", "op": n.Op.String(), "expr": astJSON(n.Expr), "param": astJSON(n.Param),
			"grouping": nonNil(n.Grouping), "without": n.Without,
		}
	case *parser.Call:
		args := make([]any, 0, len(n.Args))
		for _, a := range n.Args {
			args = append(args, astJSON(a))
		}
		return obj{
			"type": "call", "args": args,
			"func": obj{"name": n.Func.Name, "argTypes": n.Func.ArgTypes, "variadic": n.Func.Variadic, "returnType": n.Func.ReturnType},
		}
	case *parser.BinaryExpr:
		var matching any
		if m := n.VectorMatching; m != nil {
			matching = obj{
				"card": m.Card.String(), "labels": nonNil(m.MatchingLabels), "on": m.On, "include": nonNil(m.Include),
				"fillValues": map[string]*float64{"lhs": m.FillValues.LHS, "rhs": m.FillValues.RHS},
			}
		}
		return obj{"type": "binaryExpr", "op": n.Op.String(), "lhs": astJSON(n.LHS), "rhs": astJSON(n.RHS), "matching": matching, "bool": n.ReturnBool}
	}
	return obj{"type": "unknown"}
}
