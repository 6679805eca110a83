package chunkstore

import "fmt"

// Resume makes a continue the EncXOR chunk c, as if each of c's samples had
// been appended to a since a Reset: Append then writes exactly the bytes it
// would have written. c's payload is copied into dst[:0], which a owns from
// then on (as with Reset). it is decoding scratch. It decodes c once and
// re-encodes nothing (a head snapshot's open chunks are restored with it:
// re-appending every sample cost two thirds of a clean restart). It fails,
// leaving a unchanged, on a chunk of another encoding or a damaged one.
func (a *Appender) Resume(dst []byte, c Chunk, it *Iterator) error {
	if c.Enc != EncXOR {
		return fmt.Errorf("chunkstore: resume a %s chunk: %w", c.Enc, ErrUnknownEncoding)
	}
	it.Reset(c)
	for it.Next() {
	}
	if err := it.Err(); err != nil {
		return err
	}
	if c.NumSamples == 0 {
		a.Reset(dst)
		return nil
	}
	// The bits after the last sample are the zero padding (checked by the
	// iterator's clean end): fewer than 8.
	rest := uint(len(it.br.data)-it.br.pos)*8 + it.br.n
	if rest >= 8 || uint64(c.NumSamples) > 1<<32-1 {
		return corruptf(it.br.offset(), errTrailing)
	}
	*a = Appender{
		b:        append(dst[:0], c.Data...),
		t:        it.t,
		tDelta:   it.tDelta,
		minT:     c.MinT,
		v:        it.v,
		n:        uint32(c.NumSamples),
		free:     uint8(rest),
		leading:  it.leading,
		trailing: it.trailing,
		jittery:  it.jittery,
	}
	return nil
}
