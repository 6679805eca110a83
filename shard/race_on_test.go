//go:build race

package shard

// raceEnabled: the race detector is on (its instrumentation allocates, so
// allocation counts do not hold).
const raceEnabled = true
