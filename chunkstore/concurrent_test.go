package chunkstore

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openSnapshot is what a reader takes of an open chunk while synchronised
// with its owner, per the package doc: the header, the payload without its
// last byte (aliased), and a copy of the last byte.
type openSnapshot struct {
	c      Chunk
	prefix []byte
	last   byte
	want   []sample
}

// TestAppender_ConcurrentSnapshotReaders runs the documented protocol under
// the race detector: the owner keeps appending while readers decode
// snapshots that alias all but the last byte of its buffer. A write by
// Append into an aliased byte would be reported as a data race.
func TestAppender_ConcurrentSnapshotReaders(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 20))
	ss := randomSeries(r, 400)
	snaps := make(chan openSnapshot, 4)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	for range 2 {
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64)
			var it Iterator
			for sn := range snaps {
				buf = append(append(buf[:0], sn.prefix...), sn.last)
				c := sn.c
				c.Data = buf
				it.Reset(c)
				i := 0
				for it.Next() {
					tt, v := it.At()
					if i >= len(sn.want) || (sample{tt, math.Float64bits(v)}) != sn.want[i] {
						select {
						case errs <- &CorruptionError{Offset: int64(i), Err: errTrailing}:
						default:
						}
						return
					}
					i++
				}
				if it.Err() != nil || i != len(sn.want) {
					select {
					case errs <- it.Err():
					default:
					}
					return
				}
			}
		}()
	}
	var a Appender
	a.Reset(make([]byte, 0, 16)) // small, so the buffer moves while readers alias it
	for i, s := range ss {
		a.Append(s.t, math.Float64frombits(s.v))
		c := a.Chunk()
		n := len(c.Data)
		snaps <- openSnapshot{c: c, prefix: c.Data[: n-1 : n-1], last: c.Data[n-1], want: ss[:i+1]}
	}
	close(snaps)
	wg.Wait()
	select {
	case err := <-errs:
		require.NoError(t, err, "a reader decoded a snapshot wrongly")
		require.Fail(t, "a reader stopped early")
	default:
	}
}
