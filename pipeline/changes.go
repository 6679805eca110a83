package pipeline

import (
	"math"
	"sync"
	"sync/atomic"
)

// changeSlots is the number of epochs Changes remembers. A reader that
// took its epoch more than changeSlots advances ago gets "unknown" from
// Since and must treat everything as changed. Each advance happens at a
// result-cache store that follows a write, so 4,096 slots cover a dashboard
// of 20 panels refreshing every 15 s for about 50 minutes; Since scans at
// most this many atomics (a few µs).
const changeSlots = 4096

// Changes tracks, for readers that cache what they computed, the lowest
// sample timestamp that any change visible to queries touched since a
// given epoch: appended samples (of any age), deletions and blocks dropped
// by retention. Head cuts, compactions and history cuts move samples
// without changing what a query returns and are not changes.
//
// Protocol. A reader calls Epoch before it reads; a writer calls
// NoteChange after its change is visible to readers (the shard goroutine,
// once an apply, delete or retention pass is done). NoteChange loads the
// current epoch and lowers that epoch's slot to its timestamp. A change is
// therefore recorded either in a slot at or after the reader's epoch, or it
// was visible before the reader's Epoch call (its NoteChange loaded an
// older epoch only because it ran before the advance), so the reader saw
// it. Since(e) is the minimum of the slots e..current.
//
// Epoch advances only when the current slot is dirty, so a quiet database
// keeps one epoch. An advance first resets the slot it reuses and only then
// publishes the new epoch: a NoteChange of an epoch changeSlots back that
// lands after the reset lowers the new slot (conservative: more
// invalidation, never less), and a NoteChange that the reset erased belongs
// to an epoch Since no longer answers for.
//
// Cost on the write path: one atomic load of the epoch, one of the slot,
// and a compare-and-swap only when the timestamp is below the slot's (the
// first write after an advance, or a late sample).
//
// Safe for concurrent use.
type Changes struct {
	epoch atomic.Int64
	slots [changeSlots]atomic.Int64 // lowest timestamp noted in the epoch, math.MaxInt64 when none
	mu    sync.Mutex                // serialises advances
}

// NewChanges returns a tracker at epoch 0 with no change noted.
func NewChanges() *Changes {
	c := &Changes{}
	for i := range c.slots {
		c.slots[i].Store(math.MaxInt64)
	}
	return c
}

// NoteChange records a change visible to queries whose lowest sample
// timestamp is mint (ms); it is the shard.ChangeNoter method. Call it after
// the change is visible.
func (c *Changes) NoteChange(mint int64) {
	sl := &c.slots[c.epoch.Load()%changeSlots]
	for {
		cur := sl.Load()
		if mint >= cur || sl.CompareAndSwap(cur, mint) {
			return
		}
	}
}

// Epoch returns the epoch a reader stores beside what it computes from a
// read that starts after this call. It advances the epoch when the current
// one has changes noted.
func (c *Changes) Epoch() int64 {
	e := c.epoch.Load()
	if c.slots[e%changeSlots].Load() == math.MaxInt64 {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e = c.epoch.Load()
	if c.slots[e%changeSlots].Load() == math.MaxInt64 {
		return e // another reader advanced it
	}
	c.slots[(e+1)%changeSlots].Store(math.MaxInt64)
	c.epoch.Store(e + 1)
	return e + 1
}

// Since returns the lowest sample timestamp noted at or after epoch e
// (math.MaxInt64 when none), and false when e is too old to answer for:
// the caller must then assume any timestamp changed.
func (c *Changes) Since(e int64) (int64, bool) {
	cur := c.epoch.Load()
	if e > cur || cur-e >= changeSlots {
		return math.MinInt64, false
	}
	lo := int64(math.MaxInt64)
	for i := e; i <= cur; i++ {
		lo = min(lo, c.slots[i%changeSlots].Load())
	}
	// An advance past cur during the scan resets a slot older than e only
	// if cur-e was changeSlots-1; recheck so no erased note is missed.
	if c.epoch.Load()-e >= changeSlots {
		return math.MinInt64, false
	}
	return lo, true
}
