//go:build !race

package chunkstore

// raceEnabled: see race_on_test.go.
const raceEnabled = false
