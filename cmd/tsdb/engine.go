package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/queryexec"
)

// newQueryEngine returns the PromQL engine the query API evaluates with
// (queryexec's defaults: 2m timeout, 20 concurrent queries, 50M samples)
// with a result cache of cacheBytes (0: off).
func newQueryEngine(db *pipeline.DB, log *zap.Logger, reg prometheus.Registerer, cacheBytes int64) httpfast.Engine {
	if cacheBytes <= 0 {
		cacheBytes = -1 // queryexec: negative is off, 0 its default
	}
	return queryexec.NewEngine(db, queryexec.Options{Logger: log, Registerer: reg, CacheBytes: cacheBytes})
}
