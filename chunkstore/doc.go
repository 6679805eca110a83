// Package chunkstore owns the encoding of samples into compressed chunks and
// the on-disk chunk record that frames one chunk with its metadata and a
// CRC32C. Chunk files, immutable blocks and compaction will live here too
// (later issues); today the package holds the codec and the record only.
//
// # What it owns
//
//   - [Appender]: the Gorilla-style XOR encoder ([EncXOR]) for one chunk.
//   - [Chunk]: an immutable view of encoded samples plus their metadata.
//   - [Iterator]: the decoder, with Next/At/SeekTo/Err.
//   - [AppendRecord] / [DecodeRecord]: the on-disk chunk record.
//   - [DecimalEncoder] ([EncDecimal]) and [Reencoder] / [Reencode]: the
//     long-term encoding of compacted chunks and the re-cutting of a
//     series' chunks into long chunks in the smaller of the two encodings.
//     The Iterator decodes both encodings; an EncDecimal chunk is decoded
//     whole on Reset into buffers the Iterator keeps ([Iterator.ResetFrom]
//     converts its values only from a given time on).
//   - [DecimalEncoder.EncodeTimestamps] / [DecimalEncoder.EncodeShared]:
//     shared timestamp columns ([EncTimestamps]) and values-only chunks
//     over them ([EncDecimalShared]; with [DecimalEncoder.SetRangeCoded]
//     also [EncDecimalSharedRC], the value streams range-coded, for
//     compacted blocks).
//
// It does not own series identity, chunk cutting policy (the caller decides
// when a chunk is full; [DefaultSamplesPerChunk] is only a recommendation),
// out-of-order or duplicate rejection (the head does that; the codec stores
// whatever int64 sequence it is given), or file I/O.
//
// The byte-level layout of the payload and of the record is specified in
// docs/format/chunks.md; the bucket choices and measured figures are in
// docs/COMPRESSION.md.
//
// # Concurrency
//
// An [Appender] is owned by one goroutine (in the engine: the shard
// goroutine). An [Iterator] is owned by one goroutine. Decoding never writes
// to a Chunk's Data, so any number of goroutines may iterate the same chunk
// at once as long as nobody appends to it.
//
// Readers of an open (still appended) chunk: Append only ever (a) ORs bits
// into the low, still-zero bits of the last byte of the payload and (b)
// writes bytes after it, into spare capacity or into a larger array it moves
// to. It never changes any byte before the last one. So a reader of an open
// chunk must capture NumSamples, MinT, MaxT, the slice Data[:len-1] and a
// copy of the last byte together, while synchronised with the owner (for
// example inside a request served by the shard goroutine): O(1) work for the
// owner. The prefix bytes never change afterwards, so the reader may copy
// them (an Iterator needs one contiguous slice) in its own goroutine, later,
// for as long as the buffer is not reused by a Reset.
// TestAppender_ConcurrentSnapshotReaders runs this protocol under -race.
//
// # Lifetime of bytes
//
// Chunk.Data aliases memory the package does not own: the appender's buffer
// (valid until the next Reset of that appender with the same buffer) or the
// src passed to [DecodeRecord] (valid as long as src is, e.g. an mmap'd file
// until it is unmapped). Decoders never write into Data, so it may be
// read-only mapped memory. Copy Data to keep a chunk beyond those lifetimes.
//
// # Errors
//
// Decoders never panic on any input. Damaged bytes yield a
// [*CorruptionError] (errors.Is(err, ErrCorrupt) is true) naming the offset;
// an encoding this version does not know yields [ErrUnknownEncoding].
package chunkstore
