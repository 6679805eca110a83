//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// allocatedBytes is the disk space a file takes (its allocated blocks), so
// the preallocated, mostly sparse head chunk files count what they use.
func allocatedBytes(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}
