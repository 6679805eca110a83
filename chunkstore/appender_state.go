package chunkstore

import (
	"errors"
	"fmt"
)

// AppenderState is what an Appender knows beyond its chunk's bytes: the last
// timestamp delta, the last value's bits and the bit-level position. With
// the chunk it lets RestoreState continue the chunk without decoding it (a
// head snapshot stores it beside each open chunk; docs/format/head_snapshot.md
// v2).
type AppenderState struct {
	TDelta   int64  // last delta t[i]-t[i-1] (ms), wrapping
	V        uint64 // bit pattern of the last value
	Free     uint8  // unused low bits of the payload's last byte (0..7)
	Leading  uint8  // XOR window: leading zeros, 0xff for none yet
	Trailing uint8  // XOR window: trailing zeros
	Jittery  bool   // timestamp context (see dodBits)
}

// State returns the appender's state for RestoreState.
func (a *Appender) State() AppenderState {
	return AppenderState{TDelta: a.tDelta, V: a.v, Free: a.free, Leading: a.leading, Trailing: a.trailing, Jittery: a.jittery}
}

var errBadState = errors.New("appender state does not fit the chunk")

// RestoreState makes a continue the EncXOR chunk c from st, which State
// returned for an appender holding exactly c: Append then writes the bytes
// it would have written. c's payload is copied into dst[:0], which a owns
// from then on (as with Reset). Unlike Resume it does not decode c, so it
// only checks what is cheap: the encoding, the window and bit counts, and
// that the padding bits after the last sample are zero. A state from
// another chunk that passes them makes later appends write a chunk that
// fails to decode, so callers must protect the pair with a checksum. It
// fails, leaving a unchanged, when a check fails.
func (a *Appender) RestoreState(dst []byte, c Chunk, st AppenderState) error {
	if c.Enc != EncXOR {
		return fmt.Errorf("chunkstore: restore a %s chunk: %w", c.Enc, ErrUnknownEncoding)
	}
	if c.NumSamples == 0 {
		a.Reset(dst)
		return nil
	}
	switch {
	case uint64(c.NumSamples) > 1<<32-1, len(c.Data) == 0, st.Free > 7,
		st.Leading != noWindow && (st.Leading > maxLeading || int(st.Leading)+int(st.Trailing) >= 64),
		c.Data[len(c.Data)-1]&(1<<st.Free-1) != 0:
		return fmt.Errorf("chunkstore: %w", errBadState)
	}
	*a = Appender{
		b:        append(dst[:0], c.Data...),
		t:        c.MaxT,
		tDelta:   st.TDelta,
		minT:     c.MinT,
		v:        st.V,
		n:        uint32(c.NumSamples),
		free:     st.Free,
		leading:  st.Leading,
		trailing: st.Trailing,
		jittery:  st.Jittery,
	}
	return nil
}
