package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// TestExport_StreamingAllocs checks that export streams: exporting 600,000
// samples allocates (server and client together, in this process) less
// than the answer's size, which a buffered answer would need at least
// once.
func TestExport_StreamingAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes 600,000 samples (a minute under the race detector, whose allocations are not the program's)")
	}
	ts := newTestServer(t, httpfast.Options{})
	c := newClient(t, ts.addr, client.Options{})
	ctx := context.Background()
	const series, samples = 200, 3000
	// In time order (older samples than a cut block are refused).
	for i0 := 0; i0 < samples; i0 += 200 {
		var b strings.Builder
		for i := i0; i < i0+200; i++ {
			for k := range series {
				fmt.Fprintf(&b, "exp_metric{series=\"%d\",pad=\"aaaaaaaaaaaaaaaaaaaa\"} %d.%d %d\n", k, i, k, 1_700_000_000_000+int64(i)*15_000)
			}
		}
		require.NoError(t, c.Write(ctx, client.FormatProm, []byte(b.String()), client.WriteOptions{}))
	}
	// Run the head cuts and compactions that are due now, so that no
	// background job's allocations (a cut's block encoder) land inside the
	// measured window: the count is the whole process's.
	require.NoError(t, ts.db.Compact(ctx, false))
	for _, path := range []string{"/api/v1/export", "/api/v1/export/prometheus"} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := http.Get(ts.addr + path + "?" + url.Values{"match[]": {"exp_metric"}}.Encode())
		require.NoError(t, err)
		n, err := io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes answered, %d bytes allocated", path, n, alloc)
		require.Greater(t, n, int64(10<<20))
		// A buffered answer allocates at least its size once on the
		// server (and again when fasthttp copies it); streaming stays
		// under it (measured: about half, mostly per-request buffers and
		// the selection).
		require.Less(t, alloc, uint64(n), "%s allocated %d bytes for a %d-byte answer", path, alloc, n)
	}
}
