package perf

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVersion_NotGoToolchain: a binary without a module version (the test
// binary) goes through the fallbacks, which must not report the Go
// toolchain's version as the program's.
func TestVersion_NotGoToolchain(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	v := version(exe, "-test.run=^$")
	require.NotContains(t, v, "1.26", "the Go version is not the program's")
}
