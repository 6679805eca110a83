package walseg

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/internal/vfs"
)

// ReaderOptions configure replay. The zero value is valid.
type ReaderOptions struct {
	// Strict makes a bad record in any segment but the last (and a missing
	// segment number) fail replay with a *CorruptionError instead of being
	// reported in ReplayStats.Skipped. A torn tail of the last segment is
	// always repaired: it is the normal result of a crash.
	Strict bool
	// ReadOnly reports a torn tail without truncating the file.
	ReadOnly bool
	// Logger receives replay events (default zap.NewNop()).
	Logger *zap.Logger
	// Metrics receives replay counters (default: a private Metrics).
	Metrics *Metrics
	// FS is the file system (default vfs.OS).
	FS vfs.FS
	// FromSegment, when > 0, replays only the segments numbered
	// FromSegment and later, and no checkpoint: for a caller that restored
	// its state up to the end of segment FromSegment-1 from elsewhere (a
	// head snapshot written at clean shutdown).
	FromSegment int
}

// Position locates the record last returned by Next.
type Position struct {
	Checkpoint bool  // the record came from the checkpoint directory
	Segment    int   // segment number (inside the checkpoint when Checkpoint)
	Offset     int64 // byte offset of the record's frame in its file
}

// Skipped describes a part of an earlier segment that replay skipped.
type Skipped struct {
	Err   *CorruptionError // where and why
	Bytes int64            // bytes from Err.Offset to the end of the file
}

// ReplayStats summarise a replay; read them after Next returned false.
type ReplayStats struct {
	Checkpoint int              // checkpoint read first, -1 for none
	Segments   int              // segment files opened, checkpoint's included
	Records    uint64           // records returned
	Bytes      int64            // frame bytes of those records
	TornTail   *CorruptionError // why the last segment was cut; nil if clean
	TornBytes  int64            // bytes cut (or, ReadOnly, that would be cut)
	Skipped    []Skipped        // bad parts of earlier segments, in order
}

// source is one segment file to replay.
type source struct {
	path       string
	seg        int
	checkpoint bool
	last       bool // last segment of the WAL directory: torn tails are cut
}

// Reader streams the records of a WAL directory in order: the newest
// checkpoint's segments first, then the directory's segments after it.
//
// A Reader is owned by one goroutine. Record's bytes are valid until the
// next call to Next; copy them to keep them. Next stops at the first fatal
// error, which Err returns; corruption handling is described on
// ReaderOptions and in the package doc.
type Reader struct {
	opts ReaderOptions
	fs   vfs.FS
	log  *zap.Logger
	m    *Metrics
	srcs []source
	idx  int
	// scanOnly skips decompression: used to find a segment's last good
	// record, for which the CRC over the stored bytes is enough.
	scanOnly bool

	f      vfs.File
	br     *bufio.Reader
	size   int64
	off    int64 // offset of the next frame in f
	recOff int64 // offset of the frame of rec

	hdr     [frameHeaderSize]byte
	payload []byte
	rec     []byte
	zdec    *zstd.Decoder
	stats   ReplayStats
	// sealedInto is the segment named by the current source's
	// RecordSegmentEnd frame, -1 if none was read.
	sealedInto int
	err        error
	done       bool
	start      time.Time // for the replay-done log line
}

// OpenReader lists the WAL directory dir and returns a Reader positioned
// before its first record. It removes nothing: leftover temporary
// checkpoint directories are ignored. Close the Reader when done.
func OpenReader(dir string, o ReaderOptions) (*Reader, error) {
	return openReader(dir, o, -1)
}

// openReader is OpenReader limited to segments <= through (all for -1).
// With a limit, no segment counts as the last one, so nothing is cut.
func openReader(dir string, o ReaderOptions, through int) (*Reader, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = &Metrics{}
	}
	r := &Reader{opts: o, fs: vfs.Or(o.FS), log: o.Logger.Named("walseg"), m: o.Metrics, start: time.Now(), sealedInto: -1}
	r.stats.Checkpoint = -1
	cp, ok, err := lastCheckpoint(r.fs, dir)
	if err != nil {
		return nil, err
	}
	if o.FromSegment > 0 {
		ok = false // the caller's state already covers the checkpoint
	}
	if ok {
		r.stats.Checkpoint = cp
		cpDir := filepath.Join(dir, checkpointName(cp))
		segs, err := listSegments(r.fs, cpDir)
		if err != nil {
			return nil, err
		}
		// A checkpoint's own segments are numbered from 0 without gaps.
		for i, s := range segs {
			if want := 0; i > 0 {
				want = segs[i-1] + 1
				if s != want {
					if err := r.missingCheckpointSegments(cpDir, want, s); err != nil {
						return nil, err
					}
				}
			} else if s != want {
				if err := r.missingCheckpointSegments(cpDir, want, s); err != nil {
					return nil, err
				}
			}
			r.srcs = append(r.srcs, source{path: filepath.Join(cpDir, segmentName(s)), seg: s, checkpoint: true})
		}
		if len(segs) == 0 {
			if err := r.missingCheckpointSegments(cpDir, 0, 1); err != nil {
				return nil, err
			}
		}
	}
	segs, err := listSegments(r.fs, dir)
	if err != nil {
		return nil, err
	}
	// The writer numbers segments from 0, or from the checkpoint's end + 1
	// after a truncation: the first segment replayed must be that one
	// (a deleted checkpoint, or a deleted first segment after it, shows as
	// a gap here). After a head snapshot (FromSegment) the caller's state
	// ends where the snapshot says; the next segment may not exist yet.
	prev := -1
	if o.FromSegment <= 0 {
		prev = -1 // segment 0 expected first
		if ok {
			prev = cp
		}
	}
	for _, s := range segs {
		if (ok && s <= cp) || (through >= 0 && s > through) || s < o.FromSegment {
			continue // covered by the checkpoint (awaiting Truncate) or the caller, or beyond the limit
		}
		if (prev >= 0 || o.FromSegment <= 0) && s != prev+1 {
			why := fmt.Errorf("segments %d..%d missing", prev+1, s-1)
			if !ok && prev < 0 {
				why = fmt.Errorf("segments %d..%d missing and no checkpoint covers them (a deleted checkpoint?)", prev+1, s-1)
			}
			ce := &CorruptionError{File: filepath.Join(dir, segmentName(prev+1)), Segment: prev + 1, Err: why}
			if o.Strict {
				return nil, ce
			}
			r.log.Warn("wal segments missing", zap.Int("segment", prev+1), zap.Int("next", s), zap.Error(why))
			r.stats.Skipped = append(r.stats.Skipped, Skipped{Err: ce})
			r.m.SegmentsMissing.Add(uint64(s - prev - 1))
		}
		prev = s
		r.srcs = append(r.srcs, source{path: filepath.Join(dir, segmentName(s)), seg: s})
	}
	if ok && prev == cp && through < 0 && o.FromSegment <= 0 {
		// A checkpoint is written only after the segment after it exists
		// (Writer.Seal creates it; the Sync before Checkpoint waits for
		// it): none means it was lost.
		ce := &CorruptionError{File: filepath.Join(dir, segmentName(cp+1)), Segment: cp + 1,
			Err: fmt.Errorf("segment %d missing: checkpoint %d is followed by no segment", cp+1, cp)}
		if o.Strict {
			return nil, ce
		}
		r.log.Warn("wal segments missing", zap.Int("segment", cp+1), zap.Error(ce))
		r.stats.Skipped = append(r.stats.Skipped, Skipped{Err: ce})
		r.m.SegmentsMissing.Add(1)
	}
	if through < 0 && len(r.srcs) > 0 && !r.srcs[len(r.srcs)-1].checkpoint {
		r.srcs[len(r.srcs)-1].last = true
	}
	return r, nil
}

// missingCheckpointSegments reports checkpoint segments [from, to) missing
// (Strict: returned as the error).
func (r *Reader) missingCheckpointSegments(cpDir string, from, to int) error {
	ce := &CorruptionError{File: filepath.Join(cpDir, segmentName(from)), Segment: from,
		Err: fmt.Errorf("checkpoint %s: segments %d..%d missing", filepath.Base(cpDir), from, to-1)}
	r.m.SegmentsMissing.Add(uint64(to - from))
	if r.opts.Strict {
		return ce
	}
	r.log.Warn("wal checkpoint segments missing", zap.String("checkpoint", filepath.Base(cpDir)), zap.Error(ce))
	r.stats.Skipped = append(r.stats.Skipped, Skipped{Err: ce})
	return nil
}

// Next advances to the next record and reports whether there is one. After
// false, check Err.
func (r *Reader) Next() bool {
	if r.err != nil || r.done {
		return false
	}
	for {
		if r.f == nil {
			if r.idx >= len(r.srcs) {
				r.done = true
				if r.scanOnly {
					return false // Open's tail check: not a replay
				}
				r.log.Info("wal replay done", zap.Int("checkpoint", r.stats.Checkpoint),
					zap.Int("segments", r.stats.Segments), zap.Uint64("records", r.stats.Records),
					zap.Int64("bytes", r.stats.Bytes), zap.Int("skipped", len(r.stats.Skipped)),
					zap.Bool("torn_tail", r.stats.TornTail != nil), zap.Duration("dur", time.Since(r.start)))
				return false
			}
			r.sealedInto = -1
			cause, err := r.openSource()
			if err != nil {
				r.err = err
				return false
			}
			if cause != nil {
				if !r.corrupt(cause) {
					return false
				}
				continue
			}
			if r.f == nil { // empty file
				r.idx++
				continue
			}
		}
		cause := r.readFrame()
		if cause == nil && Type(r.rec) == RecordSegmentEnd {
			next, n := binary.Uvarint(r.rec[1:])
			if n <= 0 || n != len(r.rec)-1 || next > math.MaxInt32 {
				cause = fmt.Errorf("segment end record body %x", r.rec[1:])
			} else {
				r.sealedInto = int(next)
				continue
			}
		}
		if cause == nil {
			r.stats.Records++
			r.stats.Bytes += r.off - r.recOff
			r.m.RecordsReplayed.Add(1)
			return true
		}
		if cause == io.EOF {
			r.closeFile()
			src := r.srcs[r.idx]
			if src.checkpoint && r.sealedInto >= 0 && (r.idx+1 >= len(r.srcs) || !r.srcs[r.idx+1].checkpoint) {
				// The checkpoint's last segment present was sealed into
				// one that is gone.
				if err := r.missingCheckpointSegments(filepath.Dir(src.path), r.sealedInto, r.sealedInto+1); err != nil {
					r.err = err
					return false
				}
			}
			if src.last && r.sealedInto >= 0 && !r.scanOnly {
				// The newest segment present was sealed into one that is
				// gone: the records written there are lost.
				ce := &CorruptionError{File: filepath.Join(filepath.Dir(src.path), segmentName(r.sealedInto)),
					Segment: r.sealedInto, Err: fmt.Errorf("segment %d missing: segment %d was sealed into it", r.sealedInto, src.seg)}
				r.m.SegmentsMissing.Add(1)
				if r.opts.Strict {
					r.err = ce
					return false
				}
				r.log.Warn("wal last segment missing", zap.Int("segment", r.sealedInto), zap.Error(ce))
				r.stats.Skipped = append(r.stats.Skipped, Skipped{Err: ce})
			}
			r.idx++
			continue
		}
		if !r.corrupt(cause) {
			return false
		}
	}
}

// Record returns the record Next found: its RecordType byte, then its body.
// The bytes are valid until the next call to Next.
func (r *Reader) Record() []byte { return r.rec }

// Position returns where the current record is.
func (r *Reader) Position() Position {
	if r.idx >= len(r.srcs) {
		return Position{}
	}
	s := r.srcs[r.idx]
	return Position{Checkpoint: s.checkpoint, Segment: s.seg, Offset: r.recOff}
}

// Err returns the error that stopped Next, or nil at a clean end.
func (r *Reader) Err() error { return r.err }

// Stats returns the replay summary so far.
func (r *Reader) Stats() ReplayStats { return r.stats }

// Close releases the open file and the decompressor. It returns nil; the
// error-free signature leaves room for readers that hold more.
func (r *Reader) Close() error {
	r.closeFile()
	if r.zdec != nil {
		r.zdec.Close()
		r.zdec = nil
	}
	r.done = true
	return nil
}

func (r *Reader) closeFile() {
	if r.f != nil {
		_ = r.f.Close() // read-only file: nothing to lose
		r.f = nil
	}
}

// openSource opens r.srcs[r.idx] and checks its header. It returns a
// corruption cause for a bad header, or a fatal error. An empty file leaves
// r.f nil.
func (r *Reader) openSource() (cause error, err error) {
	s := r.srcs[r.idx]
	f, err := vfs.Open(r.fs, s.path)
	if err != nil {
		return nil, fmt.Errorf("open segment %d: %w", s.seg, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat segment %d: %w", s.seg, err)
	}
	r.stats.Segments++
	r.size = fi.Size()
	r.off, r.recOff = 0, 0
	if r.size == 0 {
		_ = f.Close()
		return nil, nil
	}
	if r.br == nil || (r.br.Size() < 1<<20 && r.size > int64(r.br.Size())) {
		// Small files (tests, fresh segments) need no 1 MiB buffer; big
		// segments stream at 1 MiB per read(2).
		r.br = bufio.NewReaderSize(f, int(min(max(r.size, 4<<10), 1<<20)))
	} else {
		r.br.Reset(f)
	}
	r.f = f
	var hdr [segmentHeaderSize]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		return errors.New("torn segment header"), nil
	}
	if binary.BigEndian.Uint32(hdr[:4]) != segmentMagic {
		return fmt.Errorf("bad segment magic %#08x, want %#08x", binary.BigEndian.Uint32(hdr[:4]), segmentMagic), nil
	}
	if hdr[4] != FormatVersion {
		r.closeFile()
		return nil, fmt.Errorf("segment %d version %d, this build reads %d: %w", s.seg, hdr[4], FormatVersion, ErrUnsupportedVersion)
	}
	if hdr[5]|hdr[6]|hdr[7] != 0 {
		return fmt.Errorf("reserved segment header bytes %#x, want zero", hdr[5:]), nil
	}
	r.off = segmentHeaderSize
	return nil, nil
}

// readFrame reads the frame at r.off into r.rec. It returns io.EOF at a
// clean end of file and any other non-nil error as a corruption cause.
func (r *Reader) readFrame() error {
	r.recOff = r.off
	n, err := io.ReadFull(r.br, r.hdr[:])
	if err == io.EOF && n == 0 {
		return io.EOF
	}
	if err != nil {
		return errors.New("torn frame header")
	}
	typ := r.hdr[0]
	codec := Codec(r.hdr[1])
	length := int64(binary.LittleEndian.Uint32(r.hdr[2:]))
	switch {
	case typ == byte(RecordInvalid):
		return errors.New("record type 0 (zeroed or garbage bytes)")
	case codec > CodecS2:
		return fmt.Errorf("unknown codec %d", codec)
	case length > MaxRecordSize:
		return fmt.Errorf("frame length %d exceeds max %d", length, MaxRecordSize)
	case length > r.size-r.off-frameHeaderSize:
		return fmt.Errorf("frame length %d runs past end of file (%d bytes left)", length, r.size-r.off-frameHeaderSize)
	}
	if int64(cap(r.payload)) < length {
		r.payload = make([]byte, length)
	}
	r.payload = r.payload[:length]
	if _, err := io.ReadFull(r.br, r.payload); err != nil {
		return errors.New("torn frame payload")
	}
	crc := crc32.Update(0, castagnoli, r.hdr[:frameCRCOffset])
	crc = crc32.Update(crc, castagnoli, r.payload)
	if want := binary.LittleEndian.Uint32(r.hdr[frameCRCOffset:]); crc != want {
		return fmt.Errorf("crc32c %#08x, want %#08x", crc, want)
	}
	r.off += frameHeaderSize + length
	r.rec = append(r.rec[:0], typ)
	if r.scanOnly {
		return nil
	}
	switch codec {
	case CodecNone:
		r.rec = append(r.rec, r.payload...)
	case CodecZstd:
		if r.zdec == nil {
			r.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(MaxRecordSize+1))
			if err != nil {
				return fmt.Errorf("create zstd decoder: %w", err)
			}
		}
		r.rec, err = r.zdec.DecodeAll(r.payload, r.rec)
		if err != nil {
			return fmt.Errorf("zstd payload: %w", err)
		}
		if len(r.rec)-1 > MaxRecordSize {
			return fmt.Errorf("decompressed body %d bytes exceeds max %d", len(r.rec)-1, MaxRecordSize)
		}
	case CodecS2:
		n, err := s2.DecodedLen(r.payload)
		if err != nil {
			return fmt.Errorf("s2 payload: %w", err)
		}
		if n > MaxRecordSize {
			return fmt.Errorf("s2 body %d bytes exceeds max %d", n, MaxRecordSize)
		}
		if cap(r.rec) < 1+n {
			r.rec = append(make([]byte, 0, 1+n), typ)
		}
		body, err := s2.Decode(r.rec[1:1+n], r.payload)
		if err != nil {
			return fmt.Errorf("s2 payload: %w", err)
		}
		r.rec = r.rec[:1+len(body)]
	}
	return nil
}

// corrupt handles a corruption cause at r.recOff of the current source. It
// reports whether Next may continue with the next source.
func (r *Reader) corrupt(cause error) bool {
	s := r.srcs[r.idx]
	ce := &CorruptionError{File: s.path, Segment: s.seg, Offset: r.recOff, Err: cause}
	lost := r.size - r.recOff
	r.closeFile()
	// A bad frame followed by good ones is damage, not a torn tail: a torn
	// tail is an incomplete last record, with nothing valid after it.
	if next, data, err := findNextFrame(r.fs, s.path, max(ce.Offset+1, segmentHeaderSize)); err != nil {
		r.err = fmt.Errorf("look past damage in segment %d at offset %d: %w", s.seg, ce.Offset, err)
		return false
	} else if next > 0 {
		return r.skipDamage(s, ce, next, data)
	}
	r.idx++
	switch {
	case s.last:
		r.stats.TornTail = ce
		r.stats.TornBytes = lost
		r.log.Warn("wal torn tail", zap.Int("segment", s.seg), zap.Int64("offset", ce.Offset),
			zap.Int64("bytes", lost), zap.Bool("read_only", r.opts.ReadOnly), zap.Error(cause))
		if r.opts.ReadOnly {
			return true
		}
		cut := ce.Offset
		if cut <= segmentHeaderSize {
			cut = 0 // no good record: an empty file is a valid empty segment
		}
		if err := vfs.TruncateFile(r.fs, s.path, cut); err != nil {
			r.err = fmt.Errorf("repair torn tail of segment %d at offset %d: %w", s.seg, cut, err)
			return false
		}
		r.m.TornTailsRepaired.Add(1)
		r.m.TornBytesCut.Add(uint64(lost))
		return true
	case r.opts.Strict:
		r.err = ce
		return false
	default:
		r.stats.Skipped = append(r.stats.Skipped, Skipped{Err: ce, Bytes: lost})
		r.m.CorruptRecordsSkipped.Add(1)
		r.log.Warn("wal corrupt record skipped", zap.Int("segment", s.seg), zap.Int64("offset", ce.Offset),
			zap.Int64("bytes", lost), zap.Bool("checkpoint", s.checkpoint), zap.Error(cause))
		return true
	}
}

// skipDamage handles damage at ce.Offset of source s followed by a good frame
// at next: the damaged bytes are counted and reported (Skipped), and unless
// ReadOnly they are moved aside — copied to quarantine/ in the WAL directory
// and cut out of the segment, which is rewritten atomically — so the next
// replay is clean. Replay goes on at the good frame. Strict fails instead.
// data is the whole segment file.
func (r *Reader) skipDamage(s source, ce *CorruptionError, next int64, data []byte) bool {
	bad := next - ce.Offset
	if r.opts.Strict {
		r.err = ce
		return false
	}
	r.stats.Skipped = append(r.stats.Skipped, Skipped{Err: ce, Bytes: bad})
	r.m.CorruptRecordsSkipped.Add(1)
	r.m.CorruptBytesQuarantined.Add(uint64(bad))
	r.log.Error("wal damage skipped; the records after it are kept", zap.Int("segment", s.seg),
		zap.Int64("offset", ce.Offset), zap.Int64("bytes", bad), zap.Bool("checkpoint", s.checkpoint),
		zap.Bool("read_only", r.opts.ReadOnly || r.scanOnly), zap.Error(ce.Err))
	resume := next
	if !r.opts.ReadOnly && !r.scanOnly {
		if err := quarantineDamage(r.fs, s, ce.Offset, data, next); err != nil {
			r.err = fmt.Errorf("quarantine damage of segment %d at offset %d: %w", s.seg, ce.Offset, err)
			return false
		}
		resume = max(ce.Offset, segmentHeaderSize) // the good frames now start where the damage was
	}
	if err := r.reopenAt(s.path, resume); err != nil {
		r.err = err
		return false
	}
	return true
}

// reopenAt opens path as the current source again, positioned at off.
func (r *Reader) reopenAt(path string, off int64) error {
	f, err := vfs.Open(r.fs, path)
	if err != nil {
		return fmt.Errorf("reopen segment %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err == nil {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("reopen segment %s at %d: %w", path, off, err)
	}
	r.f, r.size, r.off = f, fi.Size(), off
	r.br.Reset(f)
	return nil
}

// QuarantineDir is the directory, inside a WAL directory, where replay moves
// damaged bytes that had good records after them (docs/format/wal.md §5).
const QuarantineDir = "quarantine"

// quarantineDamage copies data[off:next] to
// quarantine/<segment>-<offset>.damaged (under the segment's directory) and
// rewrites the segment without those bytes (temporary file, fsync, rename,
// directory fsync).
func quarantineDamage(fsys vfs.FS, s source, off int64, data []byte, next int64) error {
	dir := filepath.Dir(s.path)
	qdir := filepath.Join(dir, QuarantineDir)
	if err := vfs.MkdirAll(fsys, qdir, 0o755); err != nil {
		return err
	}
	q := filepath.Join(qdir, fmt.Sprintf("%s-%d.damaged", segmentName(s.seg), off))
	if err := vfs.WriteFile(fsys, q, data[off:next], 0o644); err != nil {
		return err
	}
	kept := make([]byte, 0, int64(len(data))-(next-off)+segmentHeaderSize)
	if off < segmentHeaderSize {
		// A damaged header is replaced by a good one (the version byte is
		// never damage: a newer version is refused before this).
		kept = binary.BigEndian.AppendUint32(kept, segmentMagic)
		kept = append(kept, FormatVersion, 0, 0, 0)
	} else {
		kept = append(kept, data[:off]...)
	}
	kept = append(kept, data[next:]...)
	return vfs.WriteFile(fsys, s.path, kept, 0o644)
}

// findNextFrame reads the segment at path and returns the offset of the
// first frame at from or later that passes its CRC, with the file's bytes;
// next is 0 when there is none. Run only on damage.
func findNextFrame(fsys vfs.FS, path string, from int64) (next int64, data []byte, err error) {
	data, err = vfs.ReadFile(fsys, path)
	if err != nil {
		return 0, nil, err
	}
	for o := from; o+frameHeaderSize <= int64(len(data)); o++ {
		h := data[o : o+frameHeaderSize]
		if h[0] == byte(RecordInvalid) || Codec(h[1]) > CodecS2 {
			continue
		}
		length := int64(binary.LittleEndian.Uint32(h[2:]))
		if length > MaxRecordSize || length > int64(len(data))-o-frameHeaderSize {
			continue
		}
		crc := crc32.Update(0, castagnoli, h[:frameCRCOffset])
		crc = crc32.Update(crc, castagnoli, data[o+frameHeaderSize:o+frameHeaderSize+length])
		if crc == binary.LittleEndian.Uint32(h[frameCRCOffset:]) {
			return o, data, nil
		}
	}
	return 0, nil, nil
}

// repairSegment cuts a torn tail of segment seg of dir (treated as the last
// segment), reporting whether it cut anything.
func repairSegment(fsys vfs.FS, dir string, seg int, log *zap.Logger, m *Metrics) (bool, error) {
	r := &Reader{
		opts:     ReaderOptions{Logger: log, Metrics: &Metrics{}, FS: fsys},
		fs:       fsys,
		log:      log.Named("walseg"),
		m:        m,
		srcs:     []source{{path: filepath.Join(dir, segmentName(seg)), seg: seg, last: true}},
		scanOnly: true,
	}
	defer r.Close()
	for r.Next() {
	}
	return r.stats.TornTail != nil, r.Err()
}

// listSegments returns the segment numbers in dir, ascending. Names that
// are not exactly segmentNameDigits decimal digits are ignored.
func listSegments(fsys vfs.FS, dir string) ([]int, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list wal dir %s: %w", dir, err)
	}
	var segs []int
	for _, e := range ents {
		if n, ok := parseNumber(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, n)
		}
	}
	sort.Ints(segs)
	return segs, nil
}

// lastCheckpoint returns the highest complete checkpoint number in dir.
func lastCheckpoint(fsys vfs.FS, dir string) (int, bool, error) {
	cps, err := listCheckpoints(fsys, dir)
	if err != nil || len(cps) == 0 {
		return 0, false, err
	}
	return cps[len(cps)-1], true, nil
}

// listCheckpoints returns the numbers of complete checkpoint directories in
// dir, ascending. Temporary ones (suffix .tmp) are not listed.
func listCheckpoints(fsys vfs.FS, dir string) ([]int, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list wal dir %s: %w", dir, err)
	}
	var cps []int
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), checkpointPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		if n, ok := parseNumber(rest); ok {
			cps = append(cps, n)
		}
	}
	sort.Ints(cps)
	return cps, nil
}

func parseNumber(s string) (int, bool) {
	if len(s) != segmentNameDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func checkpointName(n int) string { return checkpointPrefix + segmentName(n) }

// Check verifies the WAL directory dir without changing it: every frame of
// the newest checkpoint and of the segments after it must pass its CRC and
// decompress, every series, samples and tombstones body must decode, and no
// segment number may be missing. A torn tail of the last segment is
// reported too (as a *CorruptionError), since Check is for a closed WAL.
// It returns the first problem found, or nil.
func Check(dir string) error {
	r, err := OpenReader(dir, ReaderOptions{Strict: true, ReadOnly: true})
	if err != nil {
		return err
	}
	defer r.Close()
	var (
		series  []RefSeries
		samples []RefSample
		tombs   []Tombstone
	)
	for r.Next() {
		rec := r.Record()
		switch Type(rec) {
		case RecordSeries:
			series, err = DecodeSeries(series[:0], rec)
		case RecordSamples:
			samples, err = DecodeSamples(samples[:0], rec)
		case RecordTombstones:
			tombs, err = DecodeTombstones(tombs[:0], rec)
		}
		if err != nil {
			p := r.Position()
			return &CorruptionError{File: r.srcs[r.idx].path, Segment: p.Segment, Offset: p.Offset, Err: err}
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	if tt := r.Stats().TornTail; tt != nil {
		return tt
	}
	return nil
}
