package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/edsrzf/mmap-go"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// Head chunk files (docs/format/head_chunks.md) hold the closed chunks of the
// head, so that head RAM per series is its labels, its open chunk and one
// 8-byte reference to its newest closed chunk: each entry in the files
// starts with the reference and maximum time of the series' previous closed
// chunk, so a series' closed chunks form a chain walked from the newest. The
// WAL holds every sample they hold; a head snapshot fsyncs the files it
// lists up to their used sizes, and Open adopts them from the snapshot or,
// without one, deletes them and rebuilds them while replaying.
const (
	headChunksMagic   = 0x53424843 // "SBHC"
	headChunksVersion = 1
	headChunksHdrSize = 8 // magic(4) version(1) reserved(3)
	// headChunkLinkSize is the link before each chunk record: the previous
	// chunk's ref <8b BE> and maxT <8b BE>.
	headChunkLinkSize = 16

	// DefaultHeadChunkFileSize bounds one head chunk file. Files are
	// created sparse at this size and mapped whole, so a reader never
	// touches a mapping beyond the end of the file.
	DefaultHeadChunkFileSize = 64 << 20
)

// chunkRef locates a closed chunk: file sequence number in the high 32 bits,
// byte offset of its record in the low 32.
type chunkRef uint64

func newChunkRef(file uint32, off uint32) chunkRef { return chunkRef(uint64(file)<<32 | uint64(off)) }
func (r chunkRef) file() uint32                    { return uint32(r >> 32) }
func (r chunkRef) offset() int                     { return int(uint32(r)) }

// headFile is one mapped head chunk file. The mapping and the file are
// released when the file is retired (shard closed) and no reader holds it:
// refs counts the shard's own reference plus one per reader.
type headFile struct {
	seq  uint32
	f    *os.File
	m    mmap.MMap
	maxT int64 // largest chunk maxT written to it; shard goroutine only
	// end is the offset after the last record written to it and crc the
	// CRC32C of its bytes [headChunksHdrSize, end), kept as records are
	// written (head snapshot version 3 lists both, so a restart checks a
	// file with one sequential CRC instead of walking every chain).
	// Shard goroutine only.
	end  int64
	crc  uint32
	refs atomic.Int64
	// onUnmapErr receives an unmap or close failure from the last release.
	lastErr atomic.Pointer[error]
}

func (hf *headFile) acquire() { hf.refs.Add(1) }

func (hf *headFile) release() {
	if hf.refs.Add(-1) != 0 {
		return
	}
	err := errors.Join(hf.m.Unmap(), hf.f.Close())
	if err != nil {
		hf.lastErr.Store(&err)
	}
}

// headChunks writes closed chunks to the current head chunk file and reads
// them back through the mapping. Owned by the shard goroutine except
// acquire/release of files, which readers call from any goroutine.
type headChunks struct {
	dir      string
	fileSize int64
	files    map[uint32]*headFile
	cur      *headFile // nil until the first write and after it was retired
	curOff   int64
	// nextSeq is the sequence number of the next file. It only grows, so a
	// file number is never reused while a chain link or a reader may still
	// name the retired file that had it.
	nextSeq uint32
	buf     []byte // record scratch
	// replaying is set while the WAL is replayed: closed chunks are then
	// stored as the appender wrote them (XOR), without the EncDecimal
	// re-encoding that live cuts do (Shard.closedChunk). That re-encoding
	// was a third of crash-restart time; it only makes head chunk files
	// smaller, and the head cut re-encodes every chunk for its block anyway.
	replaying bool
	// pend holds the records written while replaying that are not yet in
	// the file: they start at pendOff of the current file and end at
	// curOff. One pwrite per closed chunk was 12 % of replay CPU; nothing
	// reads the mapping while the WAL is replayed (chunk flushes first, to
	// be safe), and nothing durable depends on these bytes before a
	// snapshot fsyncs them, so replay writes them in pieces of
	// headChunkReplayBuffer and flushes them before it returns.
	pend    []byte
	pendOff int64
}

// headChunkReplayBuffer is the size at which replay writes the pending
// records: large enough that the write calls cost nothing per chunk.
const headChunkReplayBuffer = 1 << 20

// openHeadChunks removes any previous head chunk files in dir (their
// content is rebuilt from the WAL) and returns an empty writer.
func openHeadChunks(dir string, fileSize int64) (*headChunks, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove old head chunks: %w", err)
	}
	return newHeadChunksDir(dir, fileSize)
}

// newHeadChunksDir returns an empty writer over dir without touching the
// files in it (a head snapshot adopts them).
func newHeadChunksDir(dir string, fileSize int64) (*headChunks, error) {
	if fileSize <= 0 {
		fileSize = DefaultHeadChunkFileSize
	}
	if fileSize > 1<<32-1 {
		return nil, fmt.Errorf("head chunk file size %d over the 4 GiB that a chunk ref can address", fileSize)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create head chunks dir: %w", err)
	}
	return &headChunks{dir: dir, fileSize: fileSize, files: map[uint32]*headFile{}, nextSeq: 1}, nil
}

func (hc *headChunks) cut() error {
	seq := hc.nextSeq
	if seq == 0 {
		return errors.New("head chunk file sequence numbers exhausted")
	}
	path := filepath.Join(hc.dir, fmt.Sprintf("%06d", seq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create head chunk file: %w", err)
	}
	var hdr [headChunksHdrSize]byte
	binary.BigEndian.PutUint32(hdr[:], headChunksMagic)
	hdr[4] = headChunksVersion
	if _, err := f.Write(hdr[:]); err != nil {
		return errors.Join(fmt.Errorf("write head chunk file %s header: %w", path, err), f.Close())
	}
	if err := f.Truncate(hc.fileSize); err != nil {
		return errors.Join(fmt.Errorf("size head chunk file %s: %w", path, err), f.Close())
	}
	m, err := mmap.MapRegion(f, int(hc.fileSize), mmap.RDONLY, 0, 0)
	if err != nil {
		return errors.Join(fmt.Errorf("map head chunk file %s: %w", path, err), f.Close())
	}
	hf := &headFile{seq: seq, f: f, m: m, maxT: math.MinInt64, end: headChunksHdrSize}
	hf.refs.Store(1) // the shard's own reference
	hc.files[seq] = hf
	hc.nextSeq = seq + 1
	hc.cur = hf
	hc.curOff = headChunksHdrSize
	return nil
}

// write stores c, linked to the series' previous closed chunk prev (0 for
// none) whose maximum time is prevMaxT, and returns its reference.
func (hc *headChunks) write(c chunkstore.Chunk, prev chunkRef, prevMaxT int64) (chunkRef, error) {
	size := int64(headChunkLinkSize + chunkstore.RecordSize(c))
	if size+headChunksHdrSize > hc.fileSize {
		return 0, fmt.Errorf("chunk record of %d bytes does not fit a head chunk file of %d", size, hc.fileSize)
	}
	if hc.cur == nil || hc.curOff+size > hc.fileSize {
		if err := hc.flush(); err != nil {
			return 0, err
		}
		if err := hc.cut(); err != nil {
			return 0, err
		}
	}
	var rec []byte
	if hc.replaying {
		if len(hc.pend) == 0 {
			hc.pendOff = hc.curOff
		}
		n := len(hc.pend)
		hc.pend = binary.BigEndian.AppendUint64(hc.pend, uint64(prev))
		hc.pend = binary.BigEndian.AppendUint64(hc.pend, uint64(prevMaxT))
		hc.pend = chunkstore.AppendRecord(hc.pend, c)
		rec = hc.pend[n:]
	} else {
		hc.buf = binary.BigEndian.AppendUint64(hc.buf[:0], uint64(prev))
		hc.buf = binary.BigEndian.AppendUint64(hc.buf, uint64(prevMaxT))
		hc.buf = chunkstore.AppendRecord(hc.buf, c)
		if _, err := hc.cur.f.WriteAt(hc.buf, hc.curOff); err != nil {
			return 0, fmt.Errorf("write head chunk file %06d at %d: %w", hc.cur.seq, hc.curOff, err)
		}
		rec = hc.buf
	}
	ref := newChunkRef(hc.cur.seq, uint32(hc.curOff))
	hc.curOff += size
	hc.cur.maxT = max(hc.cur.maxT, c.MaxT)
	hc.cur.crc = crc32.Update(hc.cur.crc, castagnoliTable, rec)
	hc.cur.end = hc.curOff
	if len(hc.pend) >= headChunkReplayBuffer {
		if err := hc.flush(); err != nil {
			return 0, err
		}
	}
	return ref, nil
}

// flush writes the records replay left pending (see pend) to the current
// file.
func (hc *headChunks) flush() error {
	if len(hc.pend) == 0 {
		return nil
	}
	if _, err := hc.cur.f.WriteAt(hc.pend, hc.pendOff); err != nil {
		return fmt.Errorf("write head chunk file %06d at %d: %w", hc.cur.seq, hc.pendOff, err)
	}
	hc.pend = hc.pend[:0]
	return nil
}

// chunk decodes the chunk at ref and the link to the series' previous
// chunk. Its Data aliases the mapping: valid while the caller holds a
// reference on the file (or is the shard goroutine).
func (hc *headChunks) chunk(ref chunkRef) (c chunkstore.Chunk, prev chunkRef, prevMaxT int64, err error) {
	if hc.pending(ref) {
		if err := hc.flush(); err != nil {
			return c, 0, 0, err
		}
	}
	return readHeadChunk(hc.files, ref)
}

// pending reports whether the record at ref is among those replay has not
// written yet (see pend). Only those need a flush before a read: a tail
// replay after a head snapshot reads each restored series' newest closed
// chunk (an adopted file) at its first cut, and flushing for each of them
// was one pwrite per series, a quarter of a crash restart's CPU.
func (hc *headChunks) pending(ref chunkRef) bool {
	return len(hc.pend) > 0 && hc.cur != nil && ref.file() == hc.cur.seq && int64(ref.offset()) >= hc.pendOff
}

// readHeadChunk is chunk over a map of files; the worker uses it on a copy
// of the map while the shard goroutine changes the live one.
func readHeadChunk(files map[uint32]*headFile, ref chunkRef) (c chunkstore.Chunk, prev chunkRef, prevMaxT int64, err error) {
	hf := files[ref.file()]
	if hf == nil {
		return c, 0, 0, fmt.Errorf("head chunk ref %#x: no file %06d", uint64(ref), ref.file())
	}
	off := ref.offset()
	if off < headChunksHdrSize || off+headChunkLinkSize > len(hf.m) {
		return c, 0, 0, fmt.Errorf("head chunk file %06d: link at %d: %w", ref.file(), off, chunkstore.ErrCorrupt)
	}
	prev = chunkRef(binary.BigEndian.Uint64(hf.m[off:]))
	prevMaxT = int64(binary.BigEndian.Uint64(hf.m[off+8:]))
	c, _, err = chunkstore.DecodeRecord(hf.m, off+headChunkLinkSize)
	if err != nil {
		return c, 0, 0, fmt.Errorf("head chunk file %06d: %w", ref.file(), err)
	}
	return c, prev, prevMaxT, nil
}

// releaseBefore retires every file, the current one included, whose
// chunks all end before t and that is not pinned: it leaves the map, its
// name is removed, and its mapping goes with the last reader's release
// (Linux keeps unlinked mapped files alive). A retired current file is
// replaced by a new one at the next write. Returns how many it retired.
func (hc *headChunks) releaseBefore(t int64, pinned map[uint32]bool) int {
	n := 0
	for seq, hf := range hc.files {
		if hf.maxT >= t || pinned[seq] {
			continue
		}
		delete(hc.files, seq)
		if hf == hc.cur {
			hc.cur, hc.curOff = nil, 0
		}
		// NB: a failed remove leaves a file that the next Open deletes.
		_ = os.Remove(hf.f.Name())
		hf.release()
		n++
	}
	return n
}

// unlinkPersisted forgets the closed chunks of every series whose newest
// closed chunk lies in a file all of whose chunks end before t (queryMinT
// after a head cut: they are all in blocks, hidden from queries, and no
// walk reaches them), and returns the files that hold the newest closed
// chunk of a series after that: those stay mapped, since a chain walk
// dereferences a series' newest closed chunk before it knows its time
// range (the links carry the time of older chunks only). Without the
// unlinking every series would pin the file of its last chunk for ever,
// and a head chunk file that held a persisted chunk of any series that
// closed no chunk since would never be freed. Runs on the shard
// goroutine, where chains are walked, so no walk sees a half-unlinked
// series; readers hold file references for the bytes they took.
func (s *Shard) unlinkPersisted(t int64) map[uint32]bool {
	pinned := map[uint32]bool{}
	h := s.head
	for ref := uint32(1); ref < h.nrefs; ref++ {
		ms := h.get(ref)
		if ms == nil || ms.lastClosed == 0 {
			continue
		}
		if hf := s.hc.files[ms.lastClosed.file()]; hf == nil || hf.maxT < t {
			ms.lastClosed = 0
			continue
		}
		pinned[ms.lastClosed.file()] = true
	}
	return pinned
}

// acquireAll takes a reader reference on every file and returns them; the
// reader releases each when done.
func (hc *headChunks) acquireAll(dst []*headFile) []*headFile {
	for _, hf := range hc.files {
		hf.acquire()
		dst = append(dst, hf)
	}
	return dst
}

// close drops the shard's references; files are unmapped once the last
// reader releases them. Returns errors of files released here.
func (hc *headChunks) close() error {
	var errs []error
	seqs := make([]int, 0, len(hc.files))
	for s := range hc.files {
		seqs = append(seqs, int(s))
	}
	sort.Ints(seqs)
	for _, s := range seqs {
		hf := hc.files[uint32(s)]
		hf.release()
		if p := hf.lastErr.Load(); p != nil {
			errs = append(errs, fmt.Errorf("release head chunk file %s: %w", strconv.Itoa(s), *p))
		}
	}
	hc.files = nil
	hc.cur = nil
	return errors.Join(errs...)
}
