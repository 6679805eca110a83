package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/queryexec"
)

// newQueryEngine returns the PromQL engine the query API evaluates with
// (queryexec's defaults: 2m timeout, 20 concurrent queries, 50M samples).
func newQueryEngine(db *pipeline.DB, log *zap.Logger, reg prometheus.Registerer) httpfast.Engine {
	return queryexec.NewEngine(db, queryexec.Options{Logger: log, Registerer: reg})
}
