//go:build !race

package httpfast

// raceEnabled: see race_on_test.go.
const raceEnabled = false
