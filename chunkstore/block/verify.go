package block

import (
	"fmt"
	"path/filepath"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// Verify checks every checksum and structural rule of every file of the
// block (for `tsdb inspect --verify`): meta.json, every index section, every
// series entry (labels sorted and strictly increasing across series, chunk
// metas ordered), every chunk record (CRC, metadata equal to the series'
// chunk meta, payload decoding to exactly its sample count inside the
// block's time range), that the records of the segments are exactly the
// referenced ones in order with no trailing bytes, the totals in meta.json,
// and the tombstones file. It returns the first problem found, a
// *CorruptionError for damage. The caller must hold a reference.
func (b *Block) Verify() error {
	if b.unmapped.Load() {
		return ErrClosed
	}
	meta, err := ReadMeta(b.dir)
	if err != nil {
		return err
	}
	if _, err := parseIndex(b.dir, b.maps[0]); err != nil {
		return err
	}
	ts, err := ReadTombstones(b.dir, b.ix.n)
	if err != nil {
		return err
	}
	if err := checkTombstoneCount(b.dir, meta, ts); err != nil {
		return err
	}

	var (
		st      Stats
		it      = seriesIter{b: b}
		metas   []ChunkMeta
		prev    labels.Labels
		citer   chunkstore.Iterator
		seg     = uint64(1)
		off     = headerSize
		segFile = func(s uint64) string { return filepath.Join(chunksDirname, segmentName(s)) }
	)
	for {
		lset, ms, ok, err := it.next(metas[:0])
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		metas = ms
		ref := it.ref - 1
		if st.NumSeries > 0 && labels.Compare(prev, lset) >= 0 {
			return &CorruptionError{Block: b.dir, File: indexFilename, Offset: -1,
				Err: fmt.Errorf("series %d %s not after %s: %w", ref, lset, prev, errBadLabels)}
		}
		prev = lset
		st.NumSeries++
		for _, m := range metas {
			// The records must follow each other in ref order.
			if off == len(b.segs[seg-1]) && seg < uint64(len(b.segs)) {
				seg, off = seg+1, headerSize
			}
			if want := seg<<32 | uint64(off); m.Ref != want {
				return &CorruptionError{Block: b.dir, File: indexFilename, Offset: -1,
					Err: fmt.Errorf("series %d: chunk ref %#x, next record is %#x (%s offset %d): %w", ref, m.Ref, want, segFile(seg), off, errBadRef)}
			}
			if m.MinT < b.meta.MinTime || m.MaxT >= b.meta.MaxTime {
				return &CorruptionError{Block: b.dir, File: indexFilename, Offset: -1,
					Err: fmt.Errorf("series %d: chunk [%d, %d] outside block [%d, %d): %w", ref, m.MinT, m.MaxT, b.meta.MinTime, b.meta.MaxTime, errBadChunks)}
			}
			c, next, err := chunkstore.DecodeRecord(b.segs[seg-1], off)
			if err != nil {
				return &CorruptionError{Block: b.dir, File: segFile(seg), Offset: int64(off), Err: err}
			}
			if c.Enc.Shared() {
				if err := b.attachTimestamps(&c, seg, off); err != nil {
					return err
				}
			}
			if c.MinT != m.MinT || c.MaxT != m.MaxT {
				return &CorruptionError{Block: b.dir, File: segFile(seg), Offset: int64(off),
					Err: fmt.Errorf("record spans [%d, %d], index says [%d, %d]: %w", c.MinT, c.MaxT, m.MinT, m.MaxT, errMismatch)}
			}
			citer.Reset(c)
			n := 0
			for citer.Next() {
				n++
			}
			if err := citer.Err(); err != nil {
				return &CorruptionError{Block: b.dir, File: segFile(seg), Offset: int64(off), Err: err}
			}
			if n != c.NumSamples {
				return &CorruptionError{Block: b.dir, File: segFile(seg), Offset: int64(off),
					Err: fmt.Errorf("decoded %d samples, record says %d: %w", n, c.NumSamples, errMismatch)}
			}
			st.NumSamples += uint64(n)
			st.NumChunks++
			off = next
		}
	}
	if off != len(b.segs[seg-1]) || seg != uint64(len(b.segs)) {
		return &CorruptionError{Block: b.dir, File: segFile(seg), Offset: int64(off),
			Err: fmt.Errorf("unreferenced bytes after the last chunk of the block: %w", errTrailing)}
	}
	if err := b.verifyColumns(); err != nil {
		return err
	}
	st.NumTombstones = meta.Stats.NumTombstones // checked against the file above
	if want := meta.Stats; st != want {
		return &CorruptionError{Block: b.dir, File: metaFilename, Offset: -1,
			Err: fmt.Errorf("stats %+v, content %+v: %w", want, st, errMismatch)}
	}
	return nil
}

// verifyColumns decodes every record of the timestamps section (index
// version 2): records follow each other with no gap and no trailing bytes,
// each a non-empty EncTimestamps column inside the block's range.
func (b *Block) verifyColumns() error {
	ir := b.ix
	for off := 0; off < len(ir.ts); {
		corrupt := func(err error) error {
			return &CorruptionError{Block: b.dir, File: indexFilename, Offset: ir.tsAt + int64(off), Err: fmt.Errorf("timestamp column: %w", err)}
		}
		c, next, err := chunkstore.DecodeRecord(ir.ts, off)
		if err != nil {
			return corrupt(err)
		}
		if c.Enc != chunkstore.EncTimestamps || c.NumSamples == 0 {
			return corrupt(fmt.Errorf("record of encoding %s with %d samples: %w", c.Enc, c.NumSamples, errMismatch))
		}
		if c.MinT < b.meta.MinTime || c.MaxT >= b.meta.MaxTime {
			return corrupt(fmt.Errorf("spans [%d, %d], block [%d, %d): %w", c.MinT, c.MaxT, b.meta.MinTime, b.meta.MaxTime, errBadChunks))
		}
		if _, err := chunkstore.DecodeTimestamps(nil, c); err != nil {
			return corrupt(err)
		}
		off = next
	}
	return nil
}
