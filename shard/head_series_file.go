package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// Head series file (docs/format/head_series.md).
//
// A head snapshot of version 4 holds no labels: each series is named by its
// ref, and the labels of every ref are in the series file, where a series'
// record is written once, by the first snapshot after the series was born.
// Before it, every periodic snapshot re-encoded every series' labels (about
// two thirds of a snapshot's bytes and its CPU at 1 M node series: 76 MB per
// shard held in memory at once, VmHWM 1.5 × steady).
//
// Order of events (all on the shard goroutine except the sync):
//  1. captureHead walks the series; every live ref whose bit in in is not
//     set gets a record, written (write(2), no fsync) to the file in pieces
//     of about 1 MiB, and its bit set. The snapshot state notes the file's
//     seq and its size after those records.
//  2. The snapshot writer (worker, or the shard goroutine at shutdown)
//     fsyncs the series file before it writes the snapshot, so a snapshot
//     on disk never names a series byte a power cut could drop.
//  3. Load: the snapshot names (seq, size); the loader reads that prefix,
//     checks every record's CRC, and takes each ref's labels from its newest
//     record in it (a ref freed by a head GC and given to another series
//     gets a second record; a freed ref's bit is cleared by removeSeries).
//
// Bytes after the listed size (records of a snapshot that never became
// durable, a torn write) are never read, and the next capture overwrites
// them: records are written at size, not appended.
//
// The file grows only with series births. When it holds more than twice as
// many records as the head has series (churn), the next capture starts a
// new file (seq + 1) holding only the live series; the old file is removed
// once a snapshot naming the new one is durable, so the durable snapshot
// always has its file. Open removes every series file but the one the
// loaded snapshot names.
const (
	headSeriesPrefix    = "head.series."
	headSeriesMagic     = 0x53425346 // "SBSF"
	headSeriesVersion   = 1
	headSeriesHdrSize   = 16 // magic, version, 3 reserved, seq <8b BE>
	headSeriesPieceSize = 1 << 20
)

// seriesFile is the shard's series file writer. Owned by the shard
// goroutine; the snapshot writer only fsyncs and closes the handle a
// capture passed it (seriesCapture).
type seriesFile struct {
	seq     uint64   // the current file's seq; 0: none yet
	size    int64    // bytes of whole records written to it (header included)
	records int      // records in it
	fresh   bool     // start a new file at the next capture (none, damaged, or a write failed)
	in      []uint64 // bitset over refs: the series at the ref has a record in the current file
	// During a capture: the open handle, the piece being filled, the first
	// write error.
	f   vfs.File
	buf []byte
	err error
}

// seriesCapture is what a snapshot records about the series file and the
// handle its writer fsyncs and closes.
type seriesCapture struct {
	seq      uint64
	size     int64
	f        vfs.File
	obsolete []uint64 // older series files to remove once the snapshot is durable
}

func seriesFileName(seq uint64) string { return fmt.Sprintf("%s%06d", headSeriesPrefix, seq) }

func (sf *seriesFile) has(ref uint32) bool {
	i := int(ref >> 6)
	return i < len(sf.in) && sf.in[i]&(1<<(ref&63)) != 0
}

func (sf *seriesFile) set(ref uint32) {
	i := int(ref >> 6)
	if i >= len(sf.in) {
		sf.in = append(sf.in, make([]uint64, i+1-len(sf.in)+len(sf.in)/4)...)
	}
	sf.in[i] |= 1 << (ref & 63)
}

// forget notes that ref no longer names the series whose record the file
// holds (removed, or replaced by replay): a series later given the ref gets
// a record of its own.
func (sf *seriesFile) forget(ref uint32) {
	if i := int(ref >> 6); i < len(sf.in) {
		sf.in[i] &^= 1 << (ref & 63)
	}
}

// reset forgets every record (a head rebuilt from scratch): the next
// capture starts a new file.
func (sf *seriesFile) reset() {
	clear(sf.in)
	sf.fresh = true
}

// beginCapture opens the series file for this capture's records: the
// current one, or a new one (seq + 1, every bit cleared) when there is none,
// the last write failed, or churn left it with more than twice the head's
// series. Shard goroutine.
func (s *Shard) beginCapture() {
	sf := &s.series
	sf.err = nil
	sf.buf = nil
	if !sf.fresh && sf.seq != 0 && sf.records <= 2*s.head.active+4096 {
		f, err := s.fs.OpenFile(filepath.Join(s.dir, seriesFileName(sf.seq)), os.O_WRONLY, 0)
		if err == nil {
			sf.f = f
			return
		}
		s.log.Warn("head series file not opened; starting a new one")
	}
	clear(sf.in)
	sf.seq++
	sf.size, sf.records, sf.fresh = 0, 0, true
	f, err := s.fs.OpenFile(filepath.Join(s.dir, seriesFileName(sf.seq)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		sf.err = fmt.Errorf("create head series file: %w", err)
		return
	}
	sf.f = f
	sf.buf = make([]byte, 0, headSeriesPieceSize+1<<16)
	hdr := binary.BigEndian.AppendUint32(make([]byte, 0, headSeriesHdrSize), headSeriesMagic)
	hdr = append(hdr, headSeriesVersion, 0, 0, 0)
	hdr = binary.BigEndian.AppendUint64(hdr, sf.seq)
	sf.buf = append(sf.buf, hdr...)
}

// captureSeries gives the series at ref a record if the file has none for
// it. Shard goroutine, between beginCapture and endCapture.
func (s *Shard) captureSeries(ref uint32, ms *memSeries) {
	sf := &s.series
	if sf.has(ref) || sf.err != nil {
		return
	}
	if cap(sf.buf) == 0 {
		// Once per capture with new series, dropped after it: a piece
		// kept between snapshots would be steady memory for nothing.
		sf.buf = make([]byte, 0, headSeriesPieceSize+1<<16)
	}
	// body length <uvarint> (at most 5 bytes: a body is < 2^32), body,
	// CRC32C of the body. The length is written after the body is known.
	start := len(sf.buf)
	sf.buf = append(sf.buf, 0, 0, 0, 0, 0)
	bodyAt := len(sf.buf)
	sf.buf = binary.AppendUvarint(sf.buf, uint64(ref))
	sf.buf = appendStoredLabels(sf.buf, s.head, ms)
	body := sf.buf[bodyAt:]
	var lenBuf [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(lenBuf[:], uint64(len(body)))
	// Move the body down over the unused length bytes.
	copy(sf.buf[start+k:], body)
	copy(sf.buf[start:], lenBuf[:k])
	sf.buf = sf.buf[:start+k+len(body)]
	sf.buf = binary.BigEndian.AppendUint32(sf.buf, crc32.Checksum(sf.buf[start+k:], castagnoliTable))
	sf.set(ref)
	sf.records++
	if len(sf.buf) >= headSeriesPieceSize {
		s.writeSeriesPiece()
	}
}

func (s *Shard) writeSeriesPiece() {
	sf := &s.series
	if sf.err != nil || len(sf.buf) == 0 {
		return
	}
	if _, err := sf.f.WriteAt(sf.buf, sf.size); err != nil {
		sf.err = fmt.Errorf("write head series file %s at offset %d: %w", seriesFileName(sf.seq), sf.size, err)
		return
	}
	sf.size += int64(len(sf.buf))
	sf.buf = sf.buf[:0]
}

// endCapture writes the last piece and returns what the snapshot records;
// the caller's writer fsyncs and closes the handle. A write error makes the
// next capture start a new file. Shard goroutine.
func (s *Shard) endCapture() (seriesCapture, error) {
	sf := &s.series
	s.writeSeriesPiece()
	sf.buf = nil
	if sf.err != nil {
		if sf.f != nil {
			_ = sf.f.Close()
		}
		sf.f = nil
		sf.fresh = true
		return seriesCapture{}, sf.err
	}
	c := seriesCapture{seq: sf.seq, size: sf.size, f: sf.f}
	if sf.fresh && sf.seq > 1 {
		// Every older file: Open may have left one it could not remove.
		for seq := uint64(1); seq < sf.seq; seq++ {
			c.obsolete = append(c.obsolete, seq)
		}
		if len(c.obsolete) > 16 {
			c.obsolete = c.obsolete[len(c.obsolete)-16:]
		}
	}
	sf.fresh = false
	sf.f = nil
	return c, nil
}

// close drops the capture's handle (a snapshot that will not be written).
func (c *seriesCapture) close() {
	if c.f != nil {
		_ = c.f.Close()
		c.f = nil
	}
}

// sync makes the series file's records durable, and closes the handle.
// Safe on the worker: the shard goroutine writes the file only during a
// capture, and no capture runs while a snapshot job is in flight.
func (c *seriesCapture) sync() error {
	if c.f == nil {
		return errors.New("head series file not open")
	}
	err := c.f.Sync()
	err = errors.Join(err, c.f.Close())
	c.f = nil
	if err != nil {
		return fmt.Errorf("sync head series file %s: %w", seriesFileName(c.seq), err)
	}
	return nil
}

// removeObsolete removes the series files a durable snapshot no longer
// needs. A failure is only logged: Open removes them too.
func (s *Shard) removeObsoleteSeries(c *seriesCapture) {
	for _, seq := range c.obsolete {
		if err := s.fs.Remove(filepath.Join(s.dir, seriesFileName(seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("old head series file not removed")
		}
	}
}

// listSeriesFiles returns the seqs of the series files in the shard
// directory.
func (s *Shard) listSeriesFiles() ([]uint64, error) {
	ents, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list head series files: %w", err)
	}
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, headSeriesPrefix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimPrefix(name, headSeriesPrefix), 10, 64)
		if err != nil {
			continue // not ours (a temporary of another tool)
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}

// openSeriesFiles runs at Open, after the head was restored: keep is the
// seq the loaded snapshot names (0: none, the head was rebuilt or came from
// a snapshot before version 4). Every other series file is removed; the
// next capture continues keep's file at size, or starts seq max+1.
func (s *Shard) openSeriesFiles(keep uint64, size int64, records int) error {
	seqs, err := s.listSeriesFiles()
	if err != nil {
		return err
	}
	sf := &s.series
	sf.seq, sf.size, sf.records, sf.fresh = 0, 0, 0, true
	for _, seq := range seqs {
		sf.seq = max(sf.seq, seq)
		if seq == keep {
			continue
		}
		if err := s.fs.Remove(filepath.Join(s.dir, seriesFileName(seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove head series file: %w", err)
		}
	}
	if keep != 0 {
		sf.seq, sf.size, sf.records, sf.fresh = keep, size, records, false
	}
	return nil
}

// seriesTable is a series file's records read back: for each ref the offset
// of its newest record's labels in b.
type seriesTable struct {
	b       []byte
	dense   []uint32          // by ref: offset+1 of the labels, 0: none
	sparse  map[uint32]uint32 // used instead when refs are far above the record count
	records int
}

func (t *seriesTable) labelsAt(ref uint32) (int, bool) {
	if t.sparse != nil {
		off, ok := t.sparse[ref]
		return int(off), ok
	}
	if int(ref) >= len(t.dense) || t.dense[ref] == 0 {
		return 0, false
	}
	return int(t.dense[ref] - 1), true
}

// readSeriesFile reads the first size bytes of series file seq and indexes
// its records. Every record's CRC is checked; damage is errSnapshotCorrupt
// (the caller replays the WAL in full).
func (s *Shard) readSeriesFile(seq uint64, size int64) (*seriesTable, error) {
	name := seriesFileName(seq)
	f, err := vfs.Open(s.fs, filepath.Join(s.dir, name))
	if err != nil {
		return nil, fmt.Errorf("%w: head series file: %w", errSnapshotCorrupt, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("head series file %s: %w", name, err)
	}
	if size < headSeriesHdrSize || size > st.Size() {
		return nil, fmt.Errorf("%w: head series file %s has %d bytes, the snapshot names %d", errSnapshotCorrupt, name, st.Size(), size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read head series file %s: %w", name, err)
	}
	return decodeSeriesFile(b, seq)
}

// decodeSeriesFile indexes the records of a series file's bytes (header
// included), which must name seq.
func decodeSeriesFile(b []byte, seq uint64) (*seriesTable, error) {
	if len(b) < headSeriesHdrSize || binary.BigEndian.Uint32(b) != headSeriesMagic {
		return nil, fmt.Errorf("%w: head series file: bad magic or length %d", errSnapshotCorrupt, len(b))
	}
	if b[4] != headSeriesVersion {
		return nil, fmt.Errorf("%w: head series file version %d, this build reads %d", errSnapshotCorrupt, b[4], headSeriesVersion)
	}
	if got := binary.BigEndian.Uint64(b[8:]); got != seq {
		return nil, fmt.Errorf("%w: head series file names seq %d, want %d", errSnapshotCorrupt, got, seq)
	}
	type rec struct{ ref, off uint32 }
	// One pass to find the records and the largest ref: a record is at
	// least 7 bytes, so recs is bounded by the input.
	var recs []rec
	maxRef := uint32(0)
	r := &snapReader{b: b, off: headSeriesHdrSize}
	for r.off < len(b) && r.err == nil {
		n := r.uvarint("series record length")
		body := r.bytes(n, "series record")
		c := r.bytes(4, "series record crc")
		if r.err != nil {
			break
		}
		if crc32.Checksum(body, castagnoliTable) != binary.BigEndian.Uint32(c) {
			r.off -= 4
			r.fail("series record crc")
			break
		}
		ref, k := binary.Uvarint(body)
		if k <= 0 || ref == 0 || ref > maxSeriesRef {
			r.off -= 4 + len(body)
			r.fail("series record ref")
			break
		}
		recs = append(recs, rec{ref: uint32(ref), off: uint32(r.off - 4 - len(body) + k)})
		maxRef = max(maxRef, uint32(ref))
	}
	if r.err != nil {
		return nil, fmt.Errorf("head series file: %w", r.err)
	}
	t := &seriesTable{b: b, records: len(recs)}
	// Refs are dense (the head recycles them), so a slice by ref is the
	// common case; a few high refs (most series collected before they got
	// a record) take a map rather than a slice sized by one ref.
	if int(maxRef) <= 4*len(recs)+1<<16 {
		t.dense = make([]uint32, int(maxRef)+1)
		for _, x := range recs {
			t.dense[x.ref] = x.off + 1
		}
	} else {
		t.sparse = make(map[uint32]uint32, len(recs))
		for _, x := range recs {
			t.sparse[x.ref] = x.off
		}
	}
	return t, nil
}
