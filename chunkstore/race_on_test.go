//go:build race

package chunkstore

// raceEnabled: the race detector randomly drops sync.Pool items, so
// allocation counts of code using pools (zstd) are only exact without it.
const raceEnabled = true
