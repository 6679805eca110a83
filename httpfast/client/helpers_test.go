package client_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/walseg"
)

// testServer is a real server on a loopback port over a fresh database.
type testServer struct {
	addr string
	db   *pipeline.DB
	srv  *httpfast.Server
}

// startServer starts a server; stop it with the returned function (tests
// register it with t.Cleanup).
func startServer(dir string, o httpfast.Options) (*testServer, func() error, error) {
	db, err := pipeline.Open(dir, pipeline.Options{Shards: 2, WAL: walseg.Options{Sync: walseg.SyncNone}, HeadGCInterval: -1})
	if err != nil {
		return nil, nil, err
	}
	srv, err := httpfast.New(o)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	srv.SetStorage(db)
	srv.SetQueryBackend(&httpfast.QueryBackend{DB: db, Engine: newEngine(db)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if serr := <-done; err == nil {
			err = serr
		}
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return &testServer{addr: "http://" + ln.Addr().String(), db: db, srv: srv}, stop, nil
}

func newTestServer(t testing.TB, o httpfast.Options) *testServer {
	t.Helper()
	ts, stop, err := startServer(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return ts
}

// exampleServer starts a server in a temporary directory for an Example
// and returns its address and a function that stops it and removes the
// directory.
func exampleServer() (string, func()) {
	dir, err := os.MkdirTemp("", "silverback-example-")
	if err != nil {
		panic(err)
	}
	ts, stop, err := startServer(dir, httpfast.Options{})
	if err != nil {
		panic(err)
	}
	return ts.addr, func() {
		if err := stop(); err != nil {
			panic(err)
		}
		_ = os.RemoveAll(dir)
	}
}
