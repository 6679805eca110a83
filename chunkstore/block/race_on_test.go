//go:build race

package block

// raceEnabled: the race detector randomly drops sync.Pool items, so
// allocation counts of code using pools (zstd) are only exact without it.
const raceEnabled = true
