package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// TestStart_ServesUI checks the wiring: `tsdb start` answers / with the
// web UI's query page (the UI's own behaviour is tested in httpfast/ui).
func TestStart_ServesUI(t *testing.T) {
	readyc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- runStart(ctx, startOptions{
			Listen: "127.0.0.1:0", DataDir: t.TempDir(), Shards: 1, Logger: zaptest.NewLogger(t),
			ready: func(a net.Addr, _ *pipeline.DB) { readyc <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-readyc:
	case err := <-errc:
		t.Fatalf("runStart returned before ready: %v", err)
	}
	code, body := get(t, "http://"+addr.String()+"/") // follows the redirect to /query
	require.Equal(t, http.StatusOK, code)
	require.True(t, strings.Contains(body, "/ui/static/") && strings.Contains(body, "app.js"), "GET / did not serve the UI shell: %q", body)
	cancel()
	require.NoError(t, <-errc)
}
