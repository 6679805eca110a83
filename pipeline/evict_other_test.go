//go:build !linux

package pipeline

import "testing"

// evictPageCache: cache=cold needs posix_fadvise, measured on Linux only.
func evictPageCache(tb testing.TB, _ string) {
	tb.Skip("cache=cold is measured on Linux only")
}
