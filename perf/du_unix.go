//go:build unix

package perf

import (
	"io/fs"
	"syscall"
)

// diskBytes is what a file takes on disk: its allocated blocks, so that
// sparse preallocated files (head chunk files, WAL segments) count what
// they hold, not their length.
func diskBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
