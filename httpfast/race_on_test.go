//go:build race

package httpfast

// raceEnabled: the race detector randomly drops sync.Pool items, so
// allocation counts of pooled code are only exact without it.
const raceEnabled = true
