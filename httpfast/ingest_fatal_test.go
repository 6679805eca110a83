package httpfast

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/silverback-tsdb/tsdb/shard"
)

// TestFatal_ShardErrors: a batch over a shard's bounds is the client's to
// split (413, naming the bound), and a failed shard is the server's (503,
// no file names); before, both were a 500 "internal storage error".
func TestFatal_ShardErrors(t *testing.T) {
	s, err := New(Options{})
	require.NoError(t, err)
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("shard 1: %w", &shard.BatchTooLargeError{What: "samples", Got: 9, Max: 8, Series: -1}),
			fasthttp.StatusRequestEntityTooLarge, "batch too large: 9 samples, max 8 (3 samples of this request were stored before); split the request"},
		{fmt.Errorf("shard 0: %w: wal /data/shards/00/wal/00000003: input/output error", shard.ErrFailed),
			fasthttp.StatusServiceUnavailable, "storage failed: a shard stopped accepting samples and needs a restart"},
	} {
		var ctx fasthttp.RequestCtx
		s.fatal(&ctx, tc.err, 3, stylePlain)
		require.Equal(t, tc.code, ctx.Response.StatusCode(), tc.err.Error())
		body := string(ctx.Response.Body())
		require.Contains(t, body, tc.want)
		require.NotContains(t, body, "/data/", "file names stay in the log")
	}
}
