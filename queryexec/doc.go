// Package queryexec evaluates PromQL with Prometheus 3.16's semantics: a
// step-batched evaluator over Prometheus's parser, range functions pushed
// down into each shard's read (pipeline.Querier.SelectShards) with
// count/group/min/max partial aggregates per shard, fan-in in label order,
// and the function library. docs/DESIGN.md ("The PromQL executor") and
// docs/QUERY_LANGUAGE.md describe it.
//
// Entry points: NewEngine, Engine.Instant and Engine.Range (see engine.go).
package queryexec
