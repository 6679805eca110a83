//go:build unix

package shard

import "golang.org/x/sys/unix"

// mapAnonOS maps n private anonymous bytes (zero-filled, resident only once
// touched).
func mapAnonOS(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
}

func unmapAnonOS(b []byte) error { return unix.Munmap(b) }
