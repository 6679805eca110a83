package queryexec

import "github.com/prometheus/prometheus/promql/parser"

func (ev *evaluator) evalSubquery(e *parser.SubqueryExpr, g grid) (any, error) {
	return nil, errorf("subqueries are not implemented yet")
}

func (ev *evaluator) evalBinary(e *parser.BinaryExpr, g grid) (any, error) {
	return nil, errorf("binary operators are not implemented yet")
}

func (ev *evaluator) evalAggregate(e *parser.AggregateExpr, g grid) (any, error) {
	return nil, errorf("aggregations are not implemented yet")
}

func (ev *evaluator) evalCall(e *parser.Call, g grid) (any, error) {
	return nil, errorf("function %s is not implemented yet", e.Func.Name)
}
