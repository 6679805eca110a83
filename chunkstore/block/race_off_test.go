//go:build !race

package block

// raceEnabled: see race_on_test.go.
const raceEnabled = false
