package block

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/internal/fsutil"
	"github.com/silverback-tsdb/tsdb/internal/vfs"
	"github.com/silverback-tsdb/tsdb/postings"
)

// WriterOptions configure a Writer. The zero value writes a level-1 block
// with a fresh ULID.
type WriterOptions struct {
	// ULID names the block; zero means ulid.Make().
	ULID ulid.ULID
	// FS is the file system the block is written through (default
	// vfs.OS; the power-cut test writes to a vfs.MemFS). Blocks are read
	// through mmap, so only the OS file system can be opened.
	FS vfs.FS
	// SegmentSize is the size in bytes after which a new chunk segment file
	// is started; 0 means DefaultSegmentSize. At most 4 GiB - 1.
	SegmentSize int64
	// Level is the compaction level recorded in meta.json; 0 means 1.
	Level int
	// Sources are recorded in meta.json; empty means the block's own ULID.
	Sources []ulid.ULID
	// Parents are recorded in meta.json (compacted blocks only).
	Parents []BlockDesc
	// Logger receives lifecycle events; nil means zap.NewNop().
	Logger *zap.Logger
	// SharedTimestamps writes index version 2, which has a timestamps
	// section: AddTimestamps stores shared timestamp columns there and
	// AddSeries accepts chunkstore.EncDecimalShared chunks that reference
	// them (docs/format/block.md §Timestamps section). Off, the writer
	// writes version 1, readable by builds that predate the section.
	SharedTimestamps bool
	// CompressIndex (with SharedTimestamps) writes index version 3, the
	// version-2 index compressed whole with zstd, when that image is at
	// most 4 MiB (docs/format/block.md §Index version 3); a larger index
	// is written as version 2. Off, or without SharedTimestamps, it has
	// no effect.
	CompressIndex bool
}

// Writer builds one block in <parent>/<ULID>.tmp and publishes it with
// Finish. Series are streamed: the writer keeps in memory the postings of
// the block (label pairs and refs), its distinct label strings and 4 bytes
// per series, never chunk data.
//
// Owned by one goroutine; not safe for concurrent use.
type Writer struct {
	parent, tmp string
	fs          vfs.FS
	meta        Meta
	segSize     int64
	log         *zap.Logger

	// Chunk segment being written.
	seg    vfs.File
	segBuf *bufio.Writer
	segNum uint64 // file number of seg, from 1
	segOff int64  // bytes written to seg
	rec    []byte // scratch for one record

	// Index: the series section is streamed straight into the index file.
	idx       vfs.File
	idxBuf    *bufio.Writer
	seriesLen int64  // series payload bytes so far
	seriesCRC uint32 // running CRC32C of the series payload
	offsets   []byte // series offsets payload, 4 bytes per series
	symIDs    map[string]uint32
	syms      []string // symbol id -> string, first-seen order
	post      *postings.Index
	entry     []byte // scratch for one series entry

	// Timestamps section (index version 2 only): column records, kept in
	// memory until Finish (one column per group of series and chunk
	// window: kilobytes per scrape target and block).
	shared bool
	ts     []byte

	// img holds the index file (header and series section so far) while
	// it may still be compressed (WriterOptions.CompressIndex); nil once
	// it is streamed to idxBuf.
	img []byte

	prev    labels.Labels
	hasPrev bool
	done    bool
	err     error // sticky: the first I/O error poisons the writer
}

// NewWriter creates <parent>/<ULID>.tmp and prepares to write a block
// covering the half-open time range [mint, maxt) in milliseconds.
func NewWriter(parent string, mint, maxt int64, o WriterOptions) (*Writer, error) {
	if mint >= maxt {
		return nil, fmt.Errorf("block: empty time range [%d, %d)", mint, maxt)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < headerSize+1 || o.SegmentSize > maxSegmentSize {
		return nil, fmt.Errorf("block: segment size %d not in [%d, %d]", o.SegmentSize, headerSize+1, int64(maxSegmentSize))
	}
	if o.ULID.IsZero() {
		o.ULID = ulid.Make()
	}
	if o.Level == 0 {
		o.Level = 1
	}
	sources := slices.Clone(o.Sources)
	if len(sources) == 0 {
		sources = []ulid.ULID{o.ULID}
	}
	slices.SortFunc(sources, ulid.ULID.Compare)
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	w := &Writer{
		parent:  parent,
		fs:      vfs.Or(o.FS),
		tmp:     filepath.Join(parent, o.ULID.String()+fsutil.TmpSuffix),
		segSize: o.SegmentSize,
		log:     o.Logger.Named("block").With(zap.String("block", o.ULID.String())),
		meta: Meta{
			ULID:    o.ULID,
			MinTime: mint,
			MaxTime: maxt,
			Compaction: Compaction{
				Level:   o.Level,
				Sources: sources,
				Parents: slices.Clone(o.Parents),
			},
			Version: MetaVersion1,
		},
		symIDs: make(map[string]uint32),
		post:   postings.NewIndex(),
		shared: o.SharedTimestamps,
	}
	if err := w.fs.MkdirAll(filepath.Join(w.tmp, chunksDirname), 0o755); err != nil {
		return nil, fmt.Errorf("block: create %s: %w", w.tmp, err)
	}
	if err := w.openSegment(); err != nil {
		w.Abort()
		return nil, err
	}
	f, err := w.fs.OpenFile(filepath.Join(w.tmp, indexFilename), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("block: create index: %w", err)
	}
	w.idx = f
	w.idxBuf = bufio.NewWriterSize(f, 1<<16)
	version := indexVersion1
	if w.shared {
		version = indexVersion2
	}
	hdr := appendHeader(nil, indexMagic, version)
	hdr = append(hdr, 0, 0, 0, 0) // series section length, patched by Finish
	if w.shared && o.CompressIndex {
		w.img = hdr
		return w, nil
	}
	if _, err := w.idxBuf.Write(hdr); err != nil {
		w.Abort()
		return nil, fmt.Errorf("block: write index header: %w", err)
	}
	return w, nil
}

// ULID returns the ULID of the block being written.
func (w *Writer) ULID() ulid.ULID { return w.meta.ULID }

func appendHeader(dst []byte, magic uint32, version byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, magic)
	return append(dst, version, 0, 0, 0)
}

func segmentName(n uint64) string {
	return fmt.Sprintf("%0*d", segmentNameWidth, n)
}

// openSegment starts the next chunk segment file.
func (w *Writer) openSegment() error {
	w.segNum++
	p := filepath.Join(w.tmp, chunksDirname, segmentName(w.segNum))
	f, err := w.fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("block: create chunk segment: %w", err)
	}
	w.seg = f
	if w.segBuf == nil {
		w.segBuf = bufio.NewWriterSize(f, 1<<20)
	} else {
		w.segBuf.Reset(f)
	}
	if _, err := w.segBuf.Write(appendHeader(nil, segmentMagic, segmentVersion1)); err != nil {
		return fmt.Errorf("block: write chunk segment header: %w", err)
	}
	w.segOff = headerSize
	return nil
}

// closeSegment flushes, fsyncs and closes the current segment.
func (w *Writer) closeSegment() error {
	if w.seg == nil {
		return nil
	}
	f := w.seg
	w.seg = nil
	if err := w.segBuf.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("block: write chunk segment %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("block: sync chunk segment %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("block: close chunk segment %s: %w", f.Name(), err)
	}
	return nil
}

// AddSeries appends one series with its chunks. Label sets must be
// non-empty, with non-empty names and values and unique names (else
// ErrInvalidLabels), and strictly increasing in labels.Compare order across
// calls (else ErrOutOfOrder). Chunks must be time-ordered and disjoint (each
// MinT greater than the previous MaxT, MinT <= MaxT), non-empty and of a
// known encoding (else ErrOutOfOrder), and inside the
// block's range [mint, maxt) (else ErrOutOfBounds). A series with no
// chunks is skipped (nothing is written, no ref is used). Chunk data is
// copied into the segment before AddSeries returns; lset is retained only
// until the next call.
//
// These violations leave the writer usable; an I/O error poisons it (every
// later call returns it).
func (w *Writer) AddSeries(lset labels.Labels, chunks []chunkstore.Chunk) error {
	if w.done {
		return ErrFinished
	}
	if w.err != nil {
		return w.err
	}
	if len(chunks) == 0 {
		return nil
	}
	if err := checkLabels(lset); err != nil {
		return err
	}
	if w.hasPrev && labels.Compare(w.prev, lset) >= 0 {
		return fmt.Errorf("series %s not after %s: %w", lset, w.prev, ErrOutOfOrder)
	}
	for i, c := range chunks {
		if c.NumSamples <= 0 || c.MinT > c.MaxT || !c.Enc.Known() {
			return fmt.Errorf("series %s chunk %d: %d samples in [%d, %d], encoding %s: %w",
				lset, i, c.NumSamples, c.MinT, c.MaxT, c.Enc, ErrOutOfOrder)
		}
		if c.Enc.Shared() {
			if err := w.checkColumn(c); err != nil {
				return fmt.Errorf("series %s chunk %d: %w", lset, i, err)
			}
		}
		if i > 0 && c.MinT <= chunks[i-1].MaxT {
			return fmt.Errorf("series %s chunk %d starts at %d, not after %d: %w", lset, i, c.MinT, chunks[i-1].MaxT, ErrOutOfOrder)
		}
		if c.MinT < w.meta.MinTime || c.MaxT >= w.meta.MaxTime {
			return fmt.Errorf("series %s chunk %d spans [%d, %d], block [%d, %d): %w",
				lset, i, c.MinT, c.MaxT, w.meta.MinTime, w.meta.MaxTime, ErrOutOfBounds)
		}
	}
	if w.seriesLen > maxSectionSize-(1<<20) {
		w.err = fmt.Errorf("block: series section exceeds %d bytes", int64(maxSectionSize))
		return w.err
	}

	ref := uint32(len(w.offsets) / 4)
	if int(ref) != len(w.offsets)/4 || ref == 1<<32-1 {
		w.err = fmt.Errorf("block: more than 2^32-1 series")
		return w.err
	}

	e := w.entry[:0]
	e = binary.AppendUvarint(e, uint64(lset.Len()))
	lset.Range(func(l labels.Label) {
		e = binary.AppendUvarint(e, uint64(w.symbol(l.Name)))
		e = binary.AppendUvarint(e, uint64(w.symbol(l.Value)))
	})
	e = binary.AppendUvarint(e, uint64(len(chunks)))
	var prevRef uint64
	for i, c := range chunks {
		cref, err := w.writeChunk(c)
		if err != nil {
			w.err = err
			return err
		}
		if i == 0 {
			e = binary.AppendVarint(e, c.MinT)
			e = binary.AppendUvarint(e, uint64(c.MaxT-c.MinT))
			e = binary.AppendUvarint(e, cref)
		} else {
			e = binary.AppendUvarint(e, uint64(c.MinT-chunks[i-1].MaxT))
			e = binary.AppendUvarint(e, uint64(c.MaxT-c.MinT))
			e = binary.AppendUvarint(e, cref-prevRef)
		}
		prevRef = cref
		w.meta.Stats.NumSamples += uint64(c.NumSamples)
	}
	w.entry = e
	if err := w.writeIndex(e); err != nil {
		w.err = fmt.Errorf("block: write index: %w", err)
		return w.err
	}
	w.offsets = binary.BigEndian.AppendUint32(w.offsets, uint32(w.seriesLen))
	w.seriesLen += int64(len(e))
	w.seriesCRC = crc32.Update(w.seriesCRC, castagnoli, e)
	w.post.Add(ref, lset)
	w.meta.Stats.NumSeries++
	w.meta.Stats.NumChunks += uint64(len(chunks))
	w.prev = lset
	w.hasPrev = true
	return nil
}

// AddTimestamps stores c, a chunkstore.EncTimestamps column, in the
// timestamps section and returns its column reference, which
// EncDecimalShared chunks of later AddSeries calls carry
// (chunkstore.DecimalEncoder.EncodeShared). The column must be non-empty
// and inside the block's range (else ErrOutOfBounds). It needs
// WriterOptions.SharedTimestamps (else ErrNoTimestampsSection). c.Data is
// copied. Columns are not de-duplicated: the caller adds each once.
func (w *Writer) AddTimestamps(c chunkstore.Chunk) (uint64, error) {
	if w.done {
		return 0, ErrFinished
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.shared {
		return 0, ErrNoTimestampsSection
	}
	if c.Enc != chunkstore.EncTimestamps || c.NumSamples <= 0 || c.MinT > c.MaxT {
		return 0, fmt.Errorf("timestamp column of %d samples in [%d, %d], encoding %s: %w",
			c.NumSamples, c.MinT, c.MaxT, c.Enc, ErrBadColumn)
	}
	if c.MinT < w.meta.MinTime || c.MaxT >= w.meta.MaxTime {
		return 0, fmt.Errorf("timestamp column spans [%d, %d], block [%d, %d): %w",
			c.MinT, c.MaxT, w.meta.MinTime, w.meta.MaxTime, ErrOutOfBounds)
	}
	if uint64(len(w.ts))+uint64(chunkstore.RecordSize(c)) > maxSectionSize {
		w.err = fmt.Errorf("block: timestamps section exceeds %d bytes", int64(maxSectionSize))
		return 0, w.err
	}
	col := uint64(len(w.ts))
	w.ts = chunkstore.AppendRecord(w.ts, c)
	return col, nil
}

// checkColumn checks that the EncDecimalShared chunk c references a column
// of this writer holding exactly its samples' timestamp range and count.
func (w *Writer) checkColumn(c chunkstore.Chunk) error {
	if !w.shared {
		return ErrNoTimestampsSection
	}
	col, err := chunkstore.SharedColumn(c)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadColumn, err)
	}
	if col >= uint64(len(w.ts)) {
		return fmt.Errorf("column %d of a %d-byte section: %w", col, len(w.ts), ErrBadColumn)
	}
	tc, _, err := chunkstore.DecodeRecord(w.ts, int(col))
	if err != nil || tc.Enc != chunkstore.EncTimestamps {
		return fmt.Errorf("column %d is no column record: %w", col, ErrBadColumn)
	}
	if tc.NumSamples != c.NumSamples || tc.MinT != c.MinT || tc.MaxT != c.MaxT {
		return fmt.Errorf("column %d holds %d samples in [%d, %d], chunk %d in [%d, %d]: %w",
			col, tc.NumSamples, tc.MinT, tc.MaxT, c.NumSamples, c.MinT, c.MaxT, ErrBadColumn)
	}
	return nil
}

// checkLabels rejects what readers would reject: an empty set, an empty
// name or value (Prometheus: an empty value means the label is absent), or
// names not strictly increasing.
func checkLabels(lset labels.Labels) error {
	if lset.IsEmpty() {
		return fmt.Errorf("empty label set: %w", ErrInvalidLabels)
	}
	var err error
	prev := ""
	lset.Range(func(l labels.Label) {
		if err == nil && (l.Name == "" || l.Value == "" || l.Name <= prev) {
			err = fmt.Errorf("series %s: label %q=%q: %w", lset, l.Name, l.Value, ErrInvalidLabels)
		}
		prev = l.Name
	})
	return err
}

// symbol returns the id of s, assigning the next one on first sight.
func (w *Writer) symbol(s string) uint32 {
	if id, ok := w.symIDs[s]; ok {
		return id
	}
	id := uint32(len(w.syms))
	s = cloneString(s)
	w.symIDs[s] = id
	w.syms = append(w.syms, s)
	return id
}

func cloneString(s string) string { return string(append([]byte(nil), s...)) }

// writeChunk appends the record of c to the current segment, starting a new
// segment when it would pass the size limit, and returns its ref.
func (w *Writer) writeChunk(c chunkstore.Chunk) (uint64, error) {
	n := int64(chunkstore.RecordSize(c))
	if w.segOff > headerSize && (w.segOff+n > w.segSize || w.segOff+n > maxSegmentSize) {
		if err := w.closeSegment(); err != nil {
			return 0, err
		}
		if err := w.openSegment(); err != nil {
			return 0, err
		}
	}
	ref := w.segNum<<32 | uint64(w.segOff)
	w.rec = chunkstore.AppendRecord(w.rec[:0], c)
	if _, err := w.segBuf.Write(w.rec); err != nil {
		return 0, fmt.Errorf("block: write chunk segment: %w", err)
	}
	w.segOff += n
	return ref, nil
}

// Finish writes the index, tombstones and meta.json, fsyncs every file and
// directory of the block, renames <ULID>.tmp to <ULID> and fsyncs parent.
// It returns the published block's Meta. On error the temporary directory
// is removed and nothing is published. The writer is unusable afterwards.
func (w *Writer) Finish() (Meta, error) {
	if w.done {
		return Meta{}, ErrFinished
	}
	if w.err != nil {
		w.Abort()
		return Meta{}, w.err
	}
	if err := w.finish(); err != nil {
		w.Abort()
		return Meta{}, err
	}
	w.done = true
	w.log.Debug("block written",
		zap.Uint64("series", w.meta.Stats.NumSeries),
		zap.Uint64("samples", w.meta.Stats.NumSamples),
		zap.Uint64("chunks", w.meta.Stats.NumChunks))
	return w.meta, nil
}

func (w *Writer) finish() error {
	if err := w.closeSegment(); err != nil {
		return err
	}
	if err := w.finishIndex(); err != nil {
		return err
	}
	if err := writeSynced(w.fs, filepath.Join(w.tmp, tombstonesFilename), encodeTombstones(nil, nil)); err != nil {
		return err
	}
	mb, err := encodeMeta(w.meta)
	if err != nil {
		return err
	}
	if err := writeSynced(w.fs, filepath.Join(w.tmp, metaFilename), mb); err != nil {
		return err
	}
	if err := w.fs.SyncDir(filepath.Join(w.tmp, chunksDirname)); err != nil {
		return err
	}
	if err := w.fs.SyncDir(w.tmp); err != nil {
		return err
	}
	return vfs.Rename(w.fs, w.tmp, filepath.Join(w.parent, w.meta.ULID.String()))
}

// writeIndex appends p to the index file: to img while the index may
// still be compressed, else to the file (img first, once it outgrows
// compressIndexLimit).
func (w *Writer) writeIndex(p []byte) error {
	if w.img == nil {
		_, err := w.idxBuf.Write(p)
		return err
	}
	w.img = append(w.img, p...)
	if len(w.img) <= compressIndexLimit {
		return nil
	}
	img := w.img
	w.img = nil
	_, err := w.idxBuf.Write(img)
	return err
}

// finishIndex completes the index file after the streamed series section.
func (w *Writer) finishIndex() error {
	f := w.idx
	w.idx = nil
	fail := func(err error) error {
		_ = f.Close()
		return fmt.Errorf("block: write index: %w", err)
	}
	// §Series: patch the length, then its CRC.
	if w.img != nil {
		binary.BigEndian.PutUint32(w.img[headerSize:], uint32(w.seriesLen))
	} else {
		if err := w.idxBuf.Flush(); err != nil {
			return fail(err)
		}
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(w.seriesLen))
		if _, err := f.WriteAt(l[:], headerSize); err != nil {
			return fail(err)
		}
	}
	tail := binary.BigEndian.AppendUint32(nil, w.seriesCRC)
	toc := make([]uint64, 1, numSectionsV2)
	toc[0] = headerSize
	pos := uint64(headerSize) + sectionFrameSize + uint64(w.seriesLen)

	// §Series offsets, §Symbols, §Postings.
	symbols := binary.AppendUvarint(nil, uint64(len(w.syms)))
	for _, s := range w.syms {
		symbols = binary.AppendUvarint(symbols, uint64(len(s)))
		symbols = append(symbols, s...)
	}
	post, err := w.post.AppendTo(nil)
	if err != nil {
		return fail(err)
	}
	sections := [][]byte{w.offsets, symbols, post}
	if w.shared {
		sections = append(sections, w.ts) // §Timestamps section
	}
	for _, p := range sections {
		if uint64(len(p)) > maxSectionSize {
			return fail(fmt.Errorf("section of %d bytes exceeds %d", len(p), int64(maxSectionSize)))
		}
		toc = append(toc, pos)
		tail = appendSection(tail, p)
		pos += sectionFrameSize + uint64(len(p))
	}
	tail = appendTOC(tail, toc)
	if w.img != nil {
		img := append(w.img, tail...)
		w.img = nil
		if len(img) <= compressIndexLimit {
			var err error
			if tail, err = compressIndex(img); err != nil {
				return fail(err)
			}
		} else {
			tail = img
		}
	}
	if _, err := w.idxBuf.Write(tail); err != nil {
		return fail(err)
	}
	if err := w.idxBuf.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("block: close index: %w", err)
	}
	return nil
}

func appendSection(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
}

func appendTOC(dst []byte, toc []uint64) []byte {
	start := len(dst)
	for _, o := range toc {
		dst = binary.BigEndian.AppendUint64(dst, o)
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// writeSynced creates path with data and fsyncs it (no rename: the whole
// temporary block directory is renamed later).
func writeSynced(fsys vfs.FS, path string, data []byte) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("block: create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("block: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("block: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("block: close %s: %w", path, err)
	}
	return nil
}

// Abort closes the writer's files and removes the temporary directory.
// Safe to call at any time, also after Finish (then it does nothing).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.seg != nil {
		_ = w.seg.Close()
		w.seg = nil
	}
	if w.idx != nil {
		_ = w.idx.Close()
		w.idx = nil
	}
	if err := w.fs.RemoveAll(w.tmp); err != nil {
		w.log.Warn("block temporary directory not removed", zap.String("dir", w.tmp), zap.Error(err))
	}
}
