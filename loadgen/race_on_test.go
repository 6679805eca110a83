//go:build race

package loadgen

// raceEnabled: code built with the race detector allocates where the plain
// build does not, so allocation counts are only exact without it.
const raceEnabled = true
