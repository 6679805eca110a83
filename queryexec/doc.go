// Package queryexec evaluates PromQL: the planner, fan-out of selects and
// partial aggregates to every shard, fan-in, and the function library.
//
// Entry points: NewEngine, Engine.Instant and Engine.Range (see engine.go).
package queryexec
