//go:build !unix

package main

import "errors"

// errInUse is returned by lockShared when a database process holds the
// data directory (never on this platform).
var errInUse = errors.New("data directory in use by a running database")

// lockShared does nothing: advisory locks are only implemented on Unix, as
// in package pipeline.
func lockShared(string) (unlock func(), err error) { return func() {}, nil }
