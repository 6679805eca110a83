package client_test

import (
	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/queryexec"
)

// newEngine is the PromQL engine of the test servers.
func newEngine(db *pipeline.DB) httpfast.Engine { return queryexec.NewEngine(db, queryexec.Options{}) }
