package shard

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/edsrzf/mmap-go"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/internal/fsutil"
	"github.com/silverback-tsdb/tsdb/internal/vfs"
	"github.com/silverback-tsdb/tsdb/stages"
)

// Head snapshot (docs/format/head_snapshot.md).
//
// A clean shutdown, and periodically the running shard
// (head_snapshot_periodic.go), write the head's state to head.snapshot:
// every series (ref, labels, newest closed chunk, open chunk and its
// appender state), head tombstones, and the head chunk files it refers to,
// which are fsynced first. The next Open restores that state and replays
// only the WAL segments written after it, so a restart costs O(series)
// plus the WAL tail, not O(samples in the WAL). The file stays after it is
// loaded: it remains valid until a cut or a full replay removes it
// (dropHeadSnapshot) or the next snapshot replaces it. Any problem with the
// file (damage, unknown version, a missing or damaged head chunk file) is
// logged, the file removed, and answered with full replay.
const (
	headSnapshotName    = "head.snapshot"
	headSnapshotMagic   = 0x53424853 // "SBHS"
	headSnapshotVersion = 4          // written; versions 1 to 3 are read too
)

var (
	errSnapshotCorrupt = errors.New("head snapshot corrupt")
	// errHeadChunkDamaged: a head chunk file the snapshot lists does not
	// match its CRC (version 3), or a chain fails a chunk's CRC (versions
	// 1 and 2): the head is rebuilt from the WAL.
	errHeadChunkDamaged = errors.New("head chunk file damaged")
	castagnoliTable     = crc32.MakeTable(crc32.Castagnoli)
)

// headState is a head snapshot written by the shard goroutine (captureHead)
// to the temporary file and not yet made durable: the writer (the worker, or
// the shard goroutine at shutdown) fsyncs what it names, then the file, and
// renames it over head.snapshot (writeHeadState).
type headState struct {
	fromSegment int
	files       []snapFile
	held        []*headFile // reader references on files, released by release
	nseries     int
	size        int64         // bytes of the temporary file
	f           vfs.File      // the temporary file, nil once renamed or removed
	series      seriesCapture // the series file holding the labels of every series in it
}

// captureHead writes the head's state to head.snapshot.tmp (page cache; no
// fsync); fromSegment is the first WAL segment the state does not cover.
// With hold it takes a reference on every head chunk file (for a writer on
// another goroutine; release drops them). Runs on the shard goroutine:
// O(series) encoding of the open chunks, written in pieces of 256 KiB,
// and the labels of series born since the last capture written to the
// series file (head_series_file.go). An error leaves no snapshot.
func (s *Shard) captureHead(fromSegment int, hold bool) (*headState, error) {
	h := s.head
	st := &headState{fromSegment: fromSegment, files: make([]snapFile, 0, len(s.hc.files))}
	for seq, hf := range s.hc.files {
		st.files = append(st.files, snapFile{seq: seq, used: hf.end, maxT: hf.maxT, crc: hf.crc})
		if hold {
			hf.acquire()
			st.held = append(st.held, hf)
		}
	}
	slices.SortFunc(st.files, func(a, b snapFile) int { return cmp.Compare(a.seq, b.seq) })
	f, err := s.fs.OpenFile(filepath.Join(s.dir, headSnapshotName+fsutil.TmpSuffix), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		st.release(s)
		return nil, fmt.Errorf("create head snapshot: %w", err)
	}
	st.f = f
	// The file is written here, on the shard goroutine, through one
	// buffer of 256 KiB: the state holds nothing per series. Held in
	// memory until the worker wrote it, the series section was the
	// transient of every periodic snapshot: a struct per series beside
	// the encoded labels, then the whole file in one buffer, ~550 MB on a
	// ~280 MB server at 1 M series; then the encoded section alone, 76 MB
	// per shard (VmHWM 1.5 × steady); then, without labels, ~22 MB per
	// shard (1.34 ×). Writing to the page cache costs the shard goroutine
	// a copy of the bytes it encoded anyway (~45 B per series); the fsync
	// stays on the worker. The labels (from the head's symbol ids: the
	// symbol table is the shard goroutine's, and ids are reused) go to the
	// series file, once per series: they were two thirds of the bytes.
	w := snapWriter{f: f, crc: crc32.New(castagnoliTable), buf: make([]byte, 0, snapWriterSize+1<<12)}
	b := binary.BigEndian.AppendUint32(w.buf, headSnapshotMagic)
	b = append(b, headSnapshotVersion, 0, 0, 0)
	// Chunks are aligned to the block range they were cut under; a shard
	// opened with another range must not adopt them (a chunk would span
	// one of its block boundaries), so the range is recorded and checked.
	b = binary.AppendUvarint(b, uint64(s.opts.BlockRange.Milliseconds()))
	b = binary.AppendUvarint(b, uint64(fromSegment))
	b = binary.AppendUvarint(b, uint64(h.epoch))
	b = binary.AppendVarint(b, h.mint)
	// Head chunk files: seq, bytes in use, max chunk time, CRC32C of the
	// bytes in use after the header.
	b = binary.AppendUvarint(b, uint64(len(st.files)))
	for _, f := range st.files {
		b = binary.AppendUvarint(b, uint64(f.seq))
		b = binary.AppendUvarint(b, uint64(f.used))
		b = binary.AppendVarint(b, f.maxT)
		b = binary.BigEndian.AppendUint32(b, f.crc)
	}
	// The head's ranges and newest sample: what the chain walk over every
	// closed chunk recomputed at load before version 3.
	b = binary.AppendUvarint(b, uint64(len(h.ranges)))
	for _, r := range h.ranges {
		b = binary.AppendVarint(b, r.q)
		b = binary.AppendVarint(b, r.minT)
	}
	b = binary.AppendVarint(b, h.maxt)
	w.buf = b
	w.maybeFlush()
	s.beginCapture()
	for ref := uint32(1); ref < h.nrefs; ref++ {
		ms := h.get(ref)
		if ms == nil {
			continue
		}
		s.captureSeries(ref, ms)
		b := binary.AppendUvarint(w.buf, uint64(ref))
		b = binary.AppendUvarint(b, uint64(ms.lastClosed))
		if ms.lastClosed != 0 {
			b = binary.AppendUvarint(b, encodeClosedMaxT(h.maxt, ms.lastClosedMaxT))
		}
		if ms.hasSamples() {
			b = append(b, 1)
			b = chunkstore.AppendRecord(b, ms.app.Chunk())
			b = appendAppenderState(b, ms.app.State())
		} else {
			b = append(b, 0)
		}
		w.buf = b
		w.maybeFlush()
		st.nseries++
	}
	b = binary.AppendUvarint(w.buf, uint64(len(s.tombs)))
	for ref, ivs := range s.tombs {
		b = binary.AppendUvarint(b, uint64(ref))
		b = binary.AppendUvarint(b, uint64(len(ivs)))
		for _, iv := range ivs {
			b = binary.AppendVarint(b, iv.MinT)
			b = binary.AppendVarint(b, iv.MaxT)
		}
		w.buf = b
		w.maybeFlush()
		b = w.buf
	}
	w.buf = b
	sc, err := s.endCapture()
	st.series = sc
	if err != nil {
		st.release(s)
		return nil, err
	}
	// Trailer (version 4): series count, series file seq and size, fixed
	// width so the loader reads them before the sections they describe.
	w.buf = binary.BigEndian.AppendUint64(w.buf, uint64(st.nseries))
	w.buf = binary.BigEndian.AppendUint64(w.buf, sc.seq)
	w.buf = binary.BigEndian.AppendUint64(w.buf, uint64(sc.size))
	w.flush()
	if w.err == nil {
		_, w.err = f.Write(w.crc.Sum(nil))
		w.n += 4
	}
	if w.err != nil {
		st.release(s)
		return nil, fmt.Errorf("write head snapshot: %w", w.err)
	}
	st.size = w.n
	return st, nil
}

// snapWriterSize is the piece the snapshot is written in: one write(2)
// per 256 KiB costs nothing beside encoding them, and the buffer is
// allocated per snapshot (1 MiB was most of BenchmarkAppend's B/op at the
// 16-sample interval, 10 K series).
const snapWriterSize = 256 << 10

// snapWriter buffers the snapshot file's bytes, with a running CRC32C and a
// sticky error. Callers append to buf and call maybeFlush.
type snapWriter struct {
	f   vfs.File
	crc hash.Hash32
	buf []byte
	n   int64
	err error
}

func (w *snapWriter) maybeFlush() {
	if len(w.buf) >= snapWriterSize {
		w.flush()
	}
}

func (w *snapWriter) flush() {
	if w.err == nil && len(w.buf) > 0 {
		w.crc.Write(w.buf)
		var m int
		m, w.err = w.f.Write(w.buf)
		w.n += int64(m)
	}
	w.buf = w.buf[:0]
}

// release drops the file references captureHead took, and the temporary
// file and series file handle if the snapshot was not written.
func (st *headState) release(s *Shard) {
	for _, hf := range st.held {
		hf.release()
	}
	st.held = nil
	st.series.close()
	if st.f != nil {
		_ = st.f.Close()
		st.f = nil
		_ = s.fs.Remove(filepath.Join(s.dir, headSnapshotName+fsutil.TmpSuffix))
	}
}

// writeHeadState makes the state durable: the head chunk files it refers
// to (and their directory) and the series file are fsynced first, then the
// snapshot's temporary file, which is renamed over the previous snapshot
// (and the directory fsynced). So a snapshot on disk never names a byte
// that a power loss could drop. Safe on the worker goroutine while the
// shard goroutine appends to the head chunk files: it only syncs them, and
// the bytes up to each listed size were written before the capture.
func (s *Shard) writeHeadState(st *headState) error {
	byseq := make(map[uint32]*headFile, len(st.held))
	for _, hf := range st.held {
		byseq[hf.seq] = hf
	}
	for _, f := range st.files {
		hf := byseq[f.seq]
		if hf == nil {
			hf = s.hc.files[f.seq] // shutdown: the shard goroutine's own map
		}
		if hf == nil {
			return fmt.Errorf("head chunk file %06d: not open", f.seq)
		}
		if err := hf.f.Sync(); err != nil {
			return fmt.Errorf("sync head chunk file %06d: %w", f.seq, err)
		}
	}
	if len(st.files) > 0 {
		if err := syncDir(s.hc.dir); err != nil {
			return fmt.Errorf("sync head chunks dir: %w", err)
		}
	}
	s.crashPoint("head chunks synced")
	if err := st.series.sync(); err != nil {
		return err
	}
	s.crashPoint("head series synced")
	path := filepath.Join(s.dir, headSnapshotName)
	err := st.f.Sync()
	err = errors.Join(err, st.f.Close())
	st.f = nil
	if err == nil {
		err = vfs.Rename(s.fs, path+fsutil.TmpSuffix, path)
	}
	if err != nil {
		_ = s.fs.Remove(path + fsutil.TmpSuffix)
		return fmt.Errorf("write head snapshot: %w", err)
	}
	s.crashPoint("head snapshot written")
	s.removeObsoleteSeries(&st.series)
	s.log.Info("head snapshot written", zap.Int("series", st.nseries), zap.Int64("bytes", st.size),
		zap.Int("wal_from_segment", st.fromSegment))
	return nil
}

// syncDir fsyncs a directory of the real file system (the head chunk files
// are mapped, so they never live on Options.FS).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// writeHeadSnapshot writes the snapshot at shutdown; fromSegment is the
// first WAL segment the snapshot does not cover. Runs on the shard
// goroutine after the WAL writer closed cleanly.
func (s *Shard) writeHeadSnapshot(fromSegment int) error {
	st, err := s.captureHead(fromSegment, false)
	if err != nil {
		return err
	}
	defer st.release(s)
	return s.writeHeadState(st)
}

// appendAppenderState encodes an open chunk's appender state (version 2):
// last delta <varint>, last value bits <8b BE>, free bits <1b>, leading
// <1b>, trailing <1b>, jittery <1b>.
func appendAppenderState(b []byte, st chunkstore.AppenderState) []byte {
	b = binary.AppendVarint(b, st.TDelta)
	b = binary.BigEndian.AppendUint64(b, st.V)
	j := byte(0)
	if st.Jittery {
		j = 1
	}
	return append(b, st.Free, st.Leading, st.Trailing, j)
}

// appendStoredLabels appends the series' labels in the snapshot's encoding
// (as appendLabels) straight from the head's symbol ids, without building a
// labels.Labels. Shard goroutine only.
func appendStoredLabels(b []byte, h *head, ms *memSeries) []byte {
	ids := h.lbls.get(ms.lbl)
	n, i := binary.Uvarint(ids)
	b = binary.AppendUvarint(b, n)
	for range n {
		name, w := binary.Uvarint(ids[i:])
		i += w
		value, w := binary.Uvarint(ids[i:])
		i += w
		nm, v := h.index.Symbol(uint32(name)), h.index.Symbol(uint32(value))
		b = binary.AppendUvarint(b, uint64(len(nm)))
		b = append(b, nm...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

func appendLabels(b []byte, lset labels.Labels) []byte {
	b = binary.AppendUvarint(b, uint64(lset.Len()))
	lset.Range(func(l labels.Label) {
		b = binary.AppendUvarint(b, uint64(len(l.Name)))
		b = append(b, l.Name...)
		b = binary.AppendUvarint(b, uint64(len(l.Value)))
		b = append(b, l.Value...)
	})
	return b
}

// snapReader decodes the snapshot with a sticky error.
type snapReader struct {
	b   []byte
	off int
	err error
}

func (r *snapReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d", errSnapshotCorrupt, what, r.off)
	}
}

func (r *snapReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	return r.advance(v, n, what)
}

func (r *snapReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	return int64(r.advance(uint64(v), n, what))
}

// advance consumes a varint of n bytes (n as binary.Uvarint and Varint
// return it: ≤ 0 is a failure) and returns v, or 0 after a failure.
func (r *snapReader) advance(v uint64, n int, what string) uint64 {
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.off += n
	return v
}

func (r *snapReader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(what)
		return nil
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p
}

// snapFile is a head chunk file listed in the snapshot.
type snapFile struct {
	seq  uint32
	used int64
	maxT int64
	crc  uint32 // CRC32C of bytes [headChunksHdrSize, used); version 3 on
}

// loadHeadSnapshot restores the head from head.snapshot if there is one and
// returns the first WAL segment left to replay (0: replay everything). The
// file stays on disk; restoreHead removes it if it cannot be used. Called by Open before replay;
// on failure the caller falls back to full replay with a fresh head.
func (s *Shard) loadHeadSnapshot() (fromSegment, version int, ok bool, err error) {
	path := filepath.Join(s.dir, headSnapshotName)
	// A shutdown that died while writing the snapshot leaves its temporary.
	if err := s.fs.Remove(path + fsutil.TmpSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, fmt.Errorf("remove unfinished head snapshot: %w", err)
	}
	b, err := readWhole(s.fs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, s.openSeriesFiles(0, 0, 0)
	}
	if err != nil {
		return 0, 0, false, errors.Join(fmt.Errorf("read head snapshot: %w", err), s.openSeriesFiles(0, 0, 0))
	}
	// It stays: it covers the WAL before its segment, the WAL after it
	// stays, and the head chunk bytes it names are never rewritten (new
	// chunks go after its used sizes), so a crash before the next snapshot
	// loads it again and replays the same tail. A head cut removes it
	// before it changes any of that (dropHeadSnapshot).
	from, err := s.decodeHeadSnapshot(b)
	if err != nil {
		return 0, 0, false, errors.Join(err, s.openSeriesFiles(0, 0, 0))
	}
	// The series restored have their records in the file the snapshot
	// names (version 4); the next capture continues it after the listed
	// size. Before version 4 the labels were in the snapshot: the next
	// capture starts a new file.
	sf := s.loadedSeries
	s.loadedSeries = loadedSeries{}
	if err := s.openSeriesFiles(sf.seq, sf.size, sf.records); err != nil {
		return 0, 0, false, err
	}
	if sf.seq != 0 {
		for ref := uint32(1); ref < s.head.nrefs; ref++ {
			if s.head.get(ref) != nil {
				s.series.set(ref)
			}
		}
	}
	return from, int(b[4]), true, nil
}

// loadedSeries is the series file a decoded snapshot named (version 4).
type loadedSeries struct {
	seq     uint64
	size    int64
	records int
}

// dropHeadSnapshot durably removes head.snapshot (if any): before a head
// or history cut writes a block and truncates the WAL, and before a full
// replay rewrites the head chunk files it names. Safe on the worker.
func (s *Shard) dropHeadSnapshot() error {
	path := filepath.Join(s.dir, headSnapshotName)
	if err := s.fs.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove head snapshot: %w", err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("remove head snapshot: %w", err)
	}
	return nil
}

func (s *Shard) decodeHeadSnapshot(b []byte) (int, error) {
	if len(b) < 12 || binary.BigEndian.Uint32(b) != headSnapshotMagic {
		return 0, fmt.Errorf("%w: bad magic or length %d", errSnapshotCorrupt, len(b))
	}
	version := b[4]
	if version < 1 || version > headSnapshotVersion {
		return 0, fmt.Errorf("%w: version %d, this build reads 1 to %d", errSnapshotCorrupt, b[4], headSnapshotVersion)
	}
	end := len(b) - 4
	if got, want := crc32.Checksum(b[:end], castagnoliTable), binary.BigEndian.Uint32(b[end:]); got != want {
		return 0, fmt.Errorf("%w: crc %#08x, stored %#08x", errSnapshotCorrupt, got, want)
	}
	r := &snapReader{b: b[:end], off: 8}
	var nseries, seriesSeq, seriesSize uint64
	if version >= 4 {
		// The trailer: series count, series file seq and size.
		if end < 8+24 {
			return 0, fmt.Errorf("%w: length %d, no trailer", errSnapshotCorrupt, len(b))
		}
		end -= 24
		nseries = binary.BigEndian.Uint64(b[end:])
		seriesSeq = binary.BigEndian.Uint64(b[end+8:])
		seriesSize = binary.BigEndian.Uint64(b[end+16:])
		if nseries > maxSeriesRef || seriesSeq == 0 || seriesSize > math.MaxUint32 {
			return 0, fmt.Errorf("%w: trailer: %d series, series file %d of %d bytes", errSnapshotCorrupt, nseries, seriesSeq, seriesSize)
		}
		r.b = b[:end]
	}
	if br := r.uvarint("block range"); r.err == nil && br != uint64(s.opts.BlockRange.Milliseconds()) {
		return 0, fmt.Errorf("head snapshot written with block range %dms, shard opened with %v: its chunks are aligned to the old range", br, s.opts.BlockRange)
	}
	from := r.uvarint("wal segment")
	epoch := r.uvarint("epoch")
	headMint := r.varint("head mint")
	nfiles := r.uvarint("file count")
	if nfiles > 1<<20 {
		r.fail("file count")
	}
	var files []snapFile
	for i := uint64(0); i < nfiles && r.err == nil; i++ {
		f := snapFile{seq: uint32(r.uvarint("file seq")), used: int64(r.uvarint("file size")), maxT: r.varint("file maxT")}
		if version >= 3 {
			if c := r.bytes(4, "file crc"); c != nil {
				f.crc = binary.BigEndian.Uint32(c)
			}
		}
		files = append(files, f)
	}
	h := s.head
	fileMaxT := int64(math.MinInt64)
	if version >= 3 {
		nr := r.uvarint("range count")
		if nr > 1<<20 {
			r.fail("range count")
		}
		br := s.opts.BlockRange.Milliseconds()
		for i := uint64(0); i < nr && r.err == nil; i++ {
			x := headRange{q: r.varint("range index"), minT: r.varint("range min")}
			// Sorted, one per block range, its smallest sample inside it.
			if r.err == nil && (len(h.ranges) > 0 && x.q <= h.ranges[len(h.ranges)-1].q ||
				x.q < MinTimestamp/br-1 || x.q > MaxTimestamp/br || floorDiv(x.minT, br) != x.q) {
				r.fail("range")
			}
			h.ranges = append(h.ranges, x)
		}
		fileMaxT = r.varint("head maxt")
		h.maxt = max(h.maxt, fileMaxT)
		h.rangeLo, h.rangeHi = 1, 0
	}
	if r.err != nil {
		return 0, r.err
	}
	var table *seriesTable
	if version >= 4 {
		t, err := s.readSeriesFile(seriesSeq, int64(seriesSize))
		if err != nil {
			return 0, err
		}
		table = t
	}
	if err := s.hc.adopt(files, version >= 3); err != nil {
		return 0, err
	}
	if version < 4 {
		nseries = r.uvarint("series count")
	}
	var (
		lb   labels.ScratchBuilder
		it   chunkstore.Iterator
		lbuf []byte
		offs []int
	)
	for i := uint64(0); i < nseries && r.err == nil; i++ {
		ref := r.uvarint("ref")
		if ref == 0 || ref > maxSeriesRef {
			r.fail("ref")
			break
		}
		lr := r
		if table != nil {
			// Version 4: the labels are the series file's.
			off, ok := table.labelsAt(uint32(ref))
			if !ok {
				r.fail("ref without a series record")
				break
			}
			lr = &snapReader{b: table.b, off: off}
		}
		lbuf, offs = readLabels(lr, &lb, lbuf, offs)
		if lr.err != nil {
			if lr != r {
				return 0, fmt.Errorf("head series file: %w", lr.err)
			}
			break
		}
		lastClosed := chunkRef(r.uvarint("last closed chunk"))
		lastClosedMaxT := int64(unknownMaxT)
		if version >= 4 && lastClosed != 0 {
			lastClosedMaxT = decodeClosedMaxT(fileMaxT, r.uvarint("last closed chunk maxt"))
		}
		hasOpen := r.bytes(1, "open flag")
		if r.err != nil {
			break
		}
		lset := lb.Labels()
		var hash uint64
		hash, s.scratch.hashBuf = stages.HashLabels(s.scratch.hashBuf, lset)
		_, ms := h.create(uint32(ref), hash, lset)
		ms.lastClosed, ms.lastClosedMaxT = lastClosed, lastClosedMaxT
		if hasOpen[0] == 1 {
			c, next, err := chunkstore.DecodeRecord(r.b, r.off)
			if err != nil {
				return 0, fmt.Errorf("%w: open chunk of %s: %w", errSnapshotCorrupt, lset, err)
			}
			r.off = next
			// The appender continues the chunk's bytes, re-encoded never:
			// from the stored state (version 2; the file's CRC covers the
			// pair), or by decoding the chunk once (version 1). An empty
			// chunk starts a fresh appender.
			if version == 1 {
				err = ms.app.Resume(h.openBuf(len(c.Data)), c, &it) // a mapped buffer: offheap.go
			} else {
				var st chunkstore.AppenderState
				st.TDelta = r.varint("appender delta")
				v := r.bytes(12, "appender state")
				if r.err != nil {
					break
				}
				st.V = binary.BigEndian.Uint64(v)
				st.Free, st.Leading, st.Trailing, st.Jittery = v[8], v[9], v[10], v[11] == 1
				if v[11] > 1 {
					r.fail("appender jittery flag")
					break
				}
				err = ms.app.RestoreState(h.openBuf(len(c.Data)), c, st)
			}
			if err != nil {
				return 0, fmt.Errorf("%w: open chunk of %s: %w", errSnapshotCorrupt, lset, err)
			}
			if c.NumSamples > 0 {
				// A chunk never spans a block range: its ends note its range.
				s.noteRange(c.MinT)
				s.noteRange(c.MaxT)
				h.maxt = max(h.maxt, c.MaxT)
			}
		}
	}
	ntombs := r.uvarint("tombstone count")
	for i := uint64(0); i < ntombs && r.err == nil; i++ {
		ref := uint32(r.uvarint("tombstone ref"))
		n := r.uvarint("interval count")
		for j := uint64(0); j < n && r.err == nil; j++ {
			iv := block.Interval{MinT: r.varint("interval min"), MaxT: r.varint("interval max")}
			if h.get(ref) != nil {
				s.tombs[ref] = s.tombs[ref].Add(iv)
			}
		}
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return 0, r.err
	}
	if table != nil {
		s.loadedSeries = loadedSeries{seq: seriesSeq, size: int64(seriesSize), records: table.records}
	}
	// NB: the free list is rebuilt by the replay that always follows.
	h.epoch = uint32(epoch) + 1 // route-cache hints from before the restart are void anyway
	if h.active > 0 {
		h.mint = min(h.mint, headMint)
	}
	return int(from), nil
}

// encodeClosedMaxT encodes a series' newest closed chunk's maxT (version 4)
// relative to the head's max: 0 when not known (unknownMaxT: the series was
// restored from an older snapshot and has not cut since), else the zig-zag
// of headMax - maxT, plus one. Without it the first cut of every series
// after a restart read the previous chunk's link from the mapping: during a
// crash replay a flush of the pending head chunk bytes and a pwrite per
// series (~100 ms of a 200 ms restart), and a page of the files mapped into
// the resident set per series.
func encodeClosedMaxT(headMax, maxT int64) uint64 {
	if maxT == unknownMaxT {
		return 0
	}
	d := headMax - maxT // wraps; decode wraps back
	return (uint64(d)<<1 ^ uint64(d>>63)) + 1
}

func decodeClosedMaxT(headMax int64, v uint64) int64 {
	if v == 0 {
		return unknownMaxT
	}
	v--
	d := int64(v>>1) ^ -int64(v&1)
	if t := headMax - d; t != unknownMaxT {
		return t
	}
	return unknownMaxT + 1 // never a real timestamp; keeps "known"
}

// readLabels decodes a label set in the snapshot's encoding (label count,
// then name and value, each with its length) into lb. A series' names and
// values share one string: one allocation per series instead of two per
// label. lbuf and offs are scratch, returned for reuse.
func readLabels(r *snapReader, lb *labels.ScratchBuilder, lbuf []byte, offs []int) ([]byte, []int) {
	lbuf, offs = lbuf[:0], offs[:0]
	nl := r.uvarint("label count")
	for j := uint64(0); j < nl && r.err == nil; j++ {
		lbuf = append(lbuf, r.bytes(r.uvarint("name length"), "name")...)
		offs = append(offs, len(lbuf))
		lbuf = append(lbuf, r.bytes(r.uvarint("value length"), "value")...)
		offs = append(offs, len(lbuf))
	}
	lb.Reset()
	if r.err != nil {
		return lbuf, offs
	}
	str, prev := string(lbuf), 0
	for j := 0; j+1 < len(offs); j += 2 {
		lb.Add(str[prev:offs[j]], str[offs[j]:offs[j+1]])
		prev = offs[j+1]
	}
	return lbuf, offs
}

// readWhole reads a file in one read of its size (io.ReadAll grows and
// copies its buffer ~20 times for a snapshot of tens of MB).
func readWhole(fsys vfs.FS, path string) ([]byte, error) {
	f, err := vfs.Open(fsys, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size()+1) // one more: a file that grew shows as a short read past it
	n, err := io.ReadFull(f, b)
	if err == nil {
		return nil, fmt.Errorf("%s grew while read", path)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// adopt maps the listed head chunk files of a snapshot (instead of starting
// empty) and removes any other file in the directory. New chunks go to a
// new file after the highest listed one. Each file's CRC over its bytes in
// use is computed (one sequential pass: the running CRC continues from it)
// and, with checkCRC (version 3), compared with the listed one: a mismatch
// is errHeadChunkDamaged.
func (hc *headChunks) adopt(files []snapFile, checkCRC bool) error {
	keep := map[string]bool{}
	for _, sf := range files {
		path := filepath.Join(hc.dir, fmt.Sprintf("%06d", sf.seq))
		keep[filepath.Base(path)] = true
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("%w: head chunk file: %w", errSnapshotCorrupt, err)
		}
		st, err := f.Stat()
		if err != nil || st.Size() != hc.fileSize || sf.used > st.Size() {
			_ = f.Close()
			return fmt.Errorf("%w: head chunk file %s has size %d, want %d", errSnapshotCorrupt, path, st.Size(), hc.fileSize)
		}
		m, err := mmap.MapRegion(f, int(hc.fileSize), mmap.RDONLY, 0, 0)
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("map head chunk file %s: %w", path, err)
		}
		if len(m) < headChunksHdrSize || binary.BigEndian.Uint32(m) != headChunksMagic || m[4] != headChunksVersion || sf.used < headChunksHdrSize {
			_ = m.Unmap()
			_ = f.Close()
			return fmt.Errorf("%w: head chunk file %s header", errSnapshotCorrupt, path)
		}
		crc := crc32.Checksum(m[headChunksHdrSize:sf.used], castagnoliTable)
		if checkCRC && crc != sf.crc {
			_ = m.Unmap()
			_ = f.Close()
			return fmt.Errorf("%w: %s: crc %#08x of its %d bytes in use, listed %#08x", errHeadChunkDamaged, path, crc, sf.used, sf.crc)
		}
		hf := &headFile{seq: sf.seq, f: f, m: m, maxT: sf.maxT, end: sf.used, crc: crc}
		hf.refs.Store(1)
		hc.files[sf.seq] = hf
		hc.nextSeq = max(hc.nextSeq, sf.seq+1)
		if hc.cur == nil || sf.seq > hc.cur.seq {
			hc.cur = hf
			hc.curOff = sf.used
		}
	}
	ents, err := os.ReadDir(hc.dir)
	if err != nil {
		return fmt.Errorf("list head chunk files: %w", err)
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(hc.dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale head chunk file: %w", err)
			}
		}
	}
	return nil
}
