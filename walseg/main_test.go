package walseg

import (
	"flag"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// seedFlag replays a randomized test: go test -run X -seed N.
var seedFlag = flag.Int64("seed", 0, "random seed for randomized tests (0: derive from the clock)")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testSeed returns the seed for a randomized test and logs it.
func testSeed(t testing.TB) int64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Logf("seed %d (replay with -seed %d)", s, s)
	return s
}
