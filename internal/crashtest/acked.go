package crashtest

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"
)

// ReadAcked returns the numbers a child acknowledged in the ack file at
// path, one decimal number per line, written and fsynced after each
// acknowledgement (a missing file: none). A torn last line (the child
// killed inside its write) was never acknowledged: it is cut off the file,
// so that the next child's first line does not join it into a number
// nobody acknowledged ("273" + "2734\n" read as 2732734).
func ReadAcked(tb testing.TB, path string) map[int64]bool {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[int64]bool{}
	}
	if err != nil {
		tb.Fatal(err)
	}
	if n := bytes.LastIndexByte(raw, '\n') + 1; n < len(raw) {
		if err := os.Truncate(path, int64(n)); err != nil {
			tb.Fatal(err)
		}
		raw = raw[:n]
	}
	acked := map[int64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			tb.Fatalf("ack file line %q: %v", sc.Text(), err)
		}
		acked[k] = true
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return acked
}
