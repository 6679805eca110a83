// Package httpfasttest runs a server on a loopback port for tests, with the
// serving goroutine's shutdown owned in one place.
package httpfasttest

import (
	"context"
	"net"
	"testing"
	"time"
)

// Server is what Serve runs: *httpfast.Server (an interface, so that
// httpfast's own tests can use this package without an import cycle).
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// Serve listens on 127.0.0.1:0, serves s on a goroutine and returns the
// address (host:port). At the test's cleanup it shuts s down and waits for
// that goroutine, reporting either's error. Cleanups run last-registered
// first: register what must outlive the server (a database's Close) before
// calling Serve.
func Serve(t testing.TB, s Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}
