// Package fsutil holds the small file-system helpers that every on-disk
// format of Silverback needs to replace state crash-safely: fsync a
// directory, write a file through a temporary name, and rename with the
// directory fsyncs that make the rename itself durable.
//
// It owns no state and starts no goroutines; every function is safe for
// concurrent use on distinct paths. It does not lock files: callers that
// share a directory must serialise their own writers.
//
// The durability recipe all helpers follow (see ARCHITECTURE.md "On disk"):
// write to a temporary name, fsync the file, rename it over the final name,
// fsync the parent directory. After a crash a reader sees either the old
// state or the new one, never a mix; a leftover temporary (suffix TmpSuffix)
// is garbage that the owner removes on its next open.
//
// SyncDir, Rename and WriteFile are internal/vfs's over the real file
// system (vfs.OS), for the writers that are not behind the vfs seam; the
// recipe has one implementation.
package fsutil
