// Package queryexec evaluates PromQL: the planner, fan-out of selects and
// partial aggregates to every shard, fan-in, and the function library.
//
// It has no code yet: the PromQL engine comes after the storage core.
package queryexec
