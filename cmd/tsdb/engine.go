package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/pipeline"
)

// newQueryEngine returns the PromQL engine the query API evaluates with.
func newQueryEngine(*pipeline.DB, *zap.Logger, prometheus.Registerer) httpfast.Engine {
	return nil // TODO(i15): queryexec.NewEngine once it lands on main (#13)
}
