package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrCrashed is returned by every MemFS operation from the simulated power
// cut until Restart.
var ErrCrashed = errors.New("vfs: simulated power cut")

// MemFS is a strict in-memory file system for power-loss tests. Each file
// keeps the content it has now and the content its last Sync made durable;
// each directory keeps its entries now and the entries its last SyncDir
// made durable. Restart simulates a power cut: every directory gets back its
// durable entries (so a created, renamed or removed entry not followed by a
// directory fsync is undone) and every file its durable content (so data not
// fsynced is lost, except that a random prefix of what was appended since
// the last sync may survive, as kernel writeback would leave it: a torn
// tail). The root directory always exists.
//
// CrashAfter arms a cut at a chosen mutating operation (create, write,
// truncate, sync, rename, remove, mkdir): that operation fails with
// ErrCrashed, and so does every later operation until Restart.
//
// DropSyncs makes Sync and SyncDir succeed without making anything durable:
// code whose fsyncs were removed. A power-loss test must fail with it.
//
// Safe for concurrent use.
type MemFS struct {
	mu            sync.Mutex
	root          *memDir
	crashIn       int // mutating operations left before the cut; <0 disarmed
	crashed       bool
	ops           int // mutating operations so far
	rng           *rand.Rand
	dropSyncs     bool
	dropDirSyncs  bool
	dropFileSyncs bool
}

type memDir struct {
	entries map[string]any // *memInode or *memDir
	durable map[string]any
}

type memInode struct {
	data    []byte
	synced  []byte
	modTime time.Time
}

func newMemDir() *memDir {
	return &memDir{entries: map[string]any{}, durable: map[string]any{}}
}

// NewMemFS returns an empty MemFS; seed drives the torn-write lengths.
func NewMemFS(seed uint64) *MemFS {
	return &MemFS{root: newMemDir(), crashIn: -1, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetDropSyncs sets the DropSyncs knob (see MemFS).
func (m *MemFS) SetDropSyncs(drop bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropSyncs = drop
}

// SetDropDirSyncs makes only directory fsyncs (SyncDir, Sync of an opened
// directory) no-ops: code that fsyncs files but not the directory entries.
func (m *MemFS) SetDropDirSyncs(drop bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropDirSyncs = drop
}

// SetDropFileSyncs makes only file fsyncs no-ops: code that fsyncs
// directories but not the files it publishes in them.
func (m *MemFS) SetDropFileSyncs(drop bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropFileSyncs = drop
}

// CrashAfter arms a power cut: the n-th mutating operation from now (n >= 1)
// fails and the file system is dead until Restart.
func (m *MemFS) CrashAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashIn = n
}

// Ops returns the number of mutating operations so far (to pick where a cut
// lands).
func (m *MemFS) Ops() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// Crashed reports whether the armed cut has happened.
func (m *MemFS) Crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashed
}

// Restart simulates the power cut and the reboot: everything not durable is
// lost (see MemFS) and operations work again. Files open before it must not
// be used.
func (m *MemFS) Restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var reset func(d *memDir)
	reset = func(d *memDir) {
		d.entries = make(map[string]any, len(d.durable))
		for k, v := range d.durable {
			d.entries[k] = v
			switch n := v.(type) {
			case *memInode:
				// The durable content, and — half of the time, for a
				// file that only grew since its last sync — a random
				// prefix of the bytes appended since: the kernel may
				// have written some of them back on its own. A reader
				// must cope with such torn tails.
				keep := n.synced
				if len(n.data) > len(n.synced) && string(n.data[:len(n.synced)]) == string(n.synced) && m.rng.IntN(2) == 0 {
					keep = n.data[:len(n.synced)+m.rng.IntN(len(n.data)-len(n.synced)+1)]
				}
				n.data = slices.Clone(keep)
				n.synced = slices.Clone(keep)
			case *memDir:
				reset(n)
			}
		}
	}
	reset(m.root)
	m.crashed = false
	m.crashIn = -1
}

// mutateLocked counts a mutating operation and reports whether it may
// proceed; the armed one marks the cut. REQUIRES: m.mu.
func (m *MemFS) mutateLocked() error {
	if m.crashed {
		return ErrCrashed
	}
	m.ops++
	if m.crashIn > 0 {
		m.crashIn--
		if m.crashIn == 0 {
			m.crashed = true
			return ErrCrashed
		}
	}
	return nil
}

func (m *MemFS) liveLocked() error {
	if m.crashed {
		return ErrCrashed
	}
	return nil
}

func split(name string) []string {
	name = filepath.Clean("/" + name)
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

// lookupLocked resolves name: its parent directory, its base name and the
// node (nil if absent). REQUIRES: m.mu.
func (m *MemFS) lookupLocked(name string) (parent *memDir, base string, node any, err error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", m.root, nil
	}
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		next, ok := d.entries[p].(*memDir)
		if !ok {
			return nil, "", nil, &fs.PathError{Op: "lookup", Path: name, Err: fs.ErrNotExist}
		}
		d = next
	}
	base = parts[len(parts)-1]
	return d, base, d.entries[base], nil
}

// OpenFile implements FS. Supported flags: O_RDONLY, O_WRONLY, O_RDWR,
// O_CREATE, O_EXCL, O_TRUNC, O_APPEND.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.liveLocked(); err != nil {
		return nil, err
	}
	parent, base, node, err := m.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	if _, ok := node.(*memDir); ok {
		if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
		}
		return &memFile{fs: m, name: name, dir: node.(*memDir)}, nil
	}
	ino, _ := node.(*memInode)
	switch {
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case ino != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case ino == nil:
		if err := m.mutateLocked(); err != nil {
			return nil, err
		}
		ino = &memInode{modTime: time.Now()}
		parent.entries[base] = ino
	}
	if flag&os.O_TRUNC != 0 && len(ino.data) > 0 {
		if err := m.mutateLocked(); err != nil {
			return nil, err
		}
		ino.data = ino.data[:0]
	}
	return &memFile{fs: m, name: name, ino: ino, flag: flag}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.liveLocked(); err != nil {
		return err
	}
	parent, base, node, err := m.lookupLocked(name)
	if err != nil {
		return err
	}
	if node == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if d, ok := node.(*memDir); ok && len(d.entries) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
	}
	if err := m.mutateLocked(); err != nil {
		return err
	}
	delete(parent.entries, base)
	return nil
}

// RemoveAll implements FS.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.liveLocked(); err != nil {
		return err
	}
	parent, base, node, err := m.lookupLocked(name)
	if err != nil || node == nil {
		return nil
	}
	if err := m.mutateLocked(); err != nil {
		return err
	}
	delete(parent.entries, base)
	return nil
}

// Rename implements FS (files and directories; a directory moves with its
// content, as a real rename does).
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.liveLocked(); err != nil {
		return err
	}
	op, ob, node, err := m.lookupLocked(oldpath)
	if err != nil {
		return err
	}
	if node == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	np, nb, _, err := m.lookupLocked(newpath)
	if err != nil {
		return err
	}
	if err := m.mutateLocked(); err != nil {
		return err
	}
	delete(op.entries, ob)
	np.entries[nb] = node
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.liveLocked(); err != nil {
		return err
	}
	d := m.root
	for _, p := range split(name) {
		switch n := d.entries[p].(type) {
		case *memDir:
			d = n
		case nil:
			if err := m.mutateLocked(); err != nil {
				return err
			}
			nd := newMemDir()
			d.entries[p] = nd
			d = nd
		default:
			return &fs.PathError{Op: "mkdir", Path: name, Err: errors.New("not a directory")}
		}
	}
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.liveLocked(); err != nil {
		return nil, err
	}
	_, _, node, err := m.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	d, ok := node.(*memDir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	out := make([]fs.DirEntry, 0, len(d.entries))
	for k, v := range d.entries {
		out = append(out, fs.FileInfoToDirEntry(memInfo(k, v)))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.liveLocked(); err != nil {
		return nil, err
	}
	_, base, node, err := m.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	if node == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return memInfo(base, node), nil
}

// SyncDir implements FS: the directory's entries now become its durable
// entries.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mutateLocked(); err != nil {
		return err
	}
	_, _, node, err := m.lookupLocked(name)
	if err != nil {
		return err
	}
	d, ok := node.(*memDir)
	if !ok {
		return &fs.PathError{Op: "syncdir", Path: name, Err: fs.ErrNotExist}
	}
	if !m.dropSyncs && !m.dropDirSyncs {
		d.durable = make(map[string]any, len(d.entries))
		for k, v := range d.entries {
			d.durable[k] = v
		}
	}
	return nil
}

type fileInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (fi fileInfo) Name() string { return fi.name }
func (fi fileInfo) Size() int64  { return fi.size }
func (fi fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (fi fileInfo) ModTime() time.Time { return fi.mod }
func (fi fileInfo) IsDir() bool        { return fi.dir }
func (fi fileInfo) Sys() any           { return nil }

func memInfo(name string, node any) fileInfo {
	if ino, ok := node.(*memInode); ok {
		return fileInfo{name: name, size: int64(len(ino.data)), mod: ino.modTime}
	}
	return fileInfo{name: name, dir: true}
}

// memFile is an open MemFS file. The inode stays reachable after a rename
// or remove, as an open file descriptor does.
type memFile struct {
	fs     *MemFS
	name   string
	ino    *memInode
	dir    *memDir // opened directory (read-only; Sync is SyncDir)
	flag   int
	off    int64
	closed bool
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) check() error {
	if f.closed {
		return os.ErrClosed
	}
	return f.fs.liveLocked()
}

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.ino == nil {
		return 0, errors.New("vfs: read of a directory")
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.flag&os.O_APPEND != 0 {
		f.fs.mu.Lock()
		if f.ino != nil {
			f.off = int64(len(f.ino.data))
		}
		f.fs.mu.Unlock()
	}
	n, err := f.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.ino == nil || f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, fmt.Errorf("vfs: write to %s opened read-only", f.name)
	}
	if err := f.fs.mutateLocked(); err != nil {
		return 0, err
	}
	f.writeLocked(p, off)
	return len(p), nil
}

func (f *memFile) writeLocked(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(f.ino.data)) {
		f.ino.data = append(f.ino.data, make([]byte, end-int64(len(f.ino.data)))...)
	}
	copy(f.ino.data[off:], p)
	f.ino.modTime = time.Now()
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		if f.ino != nil {
			offset += int64(len(f.ino.data))
		}
	}
	if offset < 0 {
		return 0, errors.New("vfs: negative seek")
	}
	f.off = offset
	return offset, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	if err := f.fs.mutateLocked(); err != nil {
		return err
	}
	if f.fs.dropSyncs {
		return nil
	}
	if f.dir != nil {
		if f.fs.dropDirSyncs {
			return nil
		}
		f.dir.durable = make(map[string]any, len(f.dir.entries))
		for k, v := range f.dir.entries {
			f.dir.durable[k] = v
		}
		return nil
	}
	if f.fs.dropFileSyncs {
		return nil
	}
	f.ino.synced = slices.Clone(f.ino.data)
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.dir != nil {
		return memInfo(filepath.Base(f.name), f.dir), nil
	}
	return memInfo(filepath.Base(f.name), f.ino), nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if f.ino == nil {
		return errors.New("vfs: truncate of a directory")
	}
	if err := f.fs.mutateLocked(); err != nil {
		return err
	}
	if size <= int64(len(f.ino.data)) {
		f.ino.data = f.ino.data[:size]
	} else {
		f.ino.data = append(f.ino.data, make([]byte, size-int64(len(f.ino.data)))...)
	}
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	return nil
}
