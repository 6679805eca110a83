package stages

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

var routeModelSeed = flag.Uint64("routecache.seed", 0, "seed of TestRouteCache_RandomModel (0: time-based, logged)")

// The route cache's model test: random sequences of appends (lookups,
// Split, the shard's resolution, Learn now or later), head garbage
// collections with ref reuse (Forget), stale routes (Unlearn), and
// restarts (replay or snapshot restore renumber the refs, a new process
// starts with an empty cache), run against modelShard, a plain-map copy
// of what the shard does with a route (shard/shard_append.go "Resolve",
// shard/route_hints.go). Checked after every step:
//
//   - a route a lookup returns was learnt for that key, and the series it
//     resolves to (its ref, if that series existed at the route's epoch)
//     is the key's: a route never names another series;
//   - after Forget, no key's route names a freed ref of that shard;
//   - after Unlearn, the stale keys miss.
//
// With forced hashes every key shares its home slot and slot tag, and
// pairs of keys share the full 64-bit hash (told apart by the check), so
// probe runs are long and backward-shift deletion, compaction and
// supersession are exercised on every step; small bounds make the cache
// grow and evict constantly.

// modelSeries is one series of a modelShard.
type modelSeries struct {
	id   string // the series' identity: its label "k"
	born uint32 // the ref epoch it was created in
}

// modelShard resolves shard messages as the shard does, with maps: refs
// are recycled last-freed-first (the worst case for stale routes), and a
// collection that frees refs bumps the epoch.
type modelShard struct {
	id    int
	epoch uint32
	byRef map[uint32]modelSeries
	byID  map[string]uint32
	free  []uint32
	next  uint32
}

func newModelShard(id int, epoch uint32) *modelShard {
	return &modelShard{id: id, epoch: epoch, byRef: map[uint32]modelSeries{}, byID: map[string]uint32{}, next: 1}
}

// seriesID is the identity of batch series s: its label "k", or, for a
// series routed by its key alone, the key without its protocol byte.
func seriesID(s *Series) string {
	if !s.Labels.IsEmpty() {
		return s.Labels.Get("k")
	}
	return strings.TrimPrefix(string(s.Key), "K")
}

// hinted is shard head.hinted: the series at ref if it existed at the
// hint's epoch.
func (s *modelShard) hinted(ref, epoch uint32) (modelSeries, bool) {
	x, ok := s.byRef[ref]
	if !ok || int32(HintEpoch(s.epoch, epoch)-x.born) < 0 {
		return modelSeries{}, false
	}
	return x, true
}

// apply resolves m, split from b, as the shard does (creating the series
// it does not have) and replies. The error is a route hint that resolved
// to another series than the batch named: what must never happen.
func (s *modelShard) apply(b *Batch, m *ShardBatch) (ShardReply, error) {
	rep := ShardReply{Epoch: s.epoch}
	stale := false
	for i := range m.Series {
		ss := &m.Series[i]
		want := seriesID(&b.Series[ss.Src])
		if ss.Ref != 0 {
			if x, ok := s.hinted(ss.Ref, ss.Epoch); ok {
				if x.id != want {
					return rep, fmt.Errorf("shard %d: the hint ref %d epoch %d of series %q resolved to series %q (born %d, shard epoch %d)",
						s.id, ss.Ref, ss.Epoch, want, x.id, x.born, s.epoch)
				}
				rep.Refs = append(rep.Refs, ss.Ref)
				continue
			}
		}
		if ss.Labels.IsEmpty() {
			stale = true
			rep.Refs = append(rep.Refs, RefStale)
			continue
		}
		if got := ss.Labels.Get("k"); got != want {
			return rep, fmt.Errorf("shard %d: series %q arrived with the labels of %q", s.id, want, got)
		}
		rep.Refs = append(rep.Refs, 0)
	}
	if stale {
		for i := range rep.Refs {
			if rep.Refs[i] != RefStale {
				rep.Refs[i] = 0
			}
		}
		rep.Err = fmt.Errorf("shard %d: %w", s.id, ErrStaleRoute)
		return rep, nil
	}
	for i := range m.Series {
		if rep.Refs[i] != 0 {
			continue
		}
		id := m.Series[i].Labels.Get("k")
		ref, ok := s.byID[id]
		if !ok {
			ref = s.alloc()
			s.byRef[ref] = modelSeries{id: id, born: s.epoch}
			s.byID[id] = ref
		}
		rep.Refs[i] = ref
	}
	return rep, nil
}

func (s *modelShard) alloc() uint32 {
	if n := len(s.free); n > 0 {
		ref := s.free[n-1]
		s.free = s.free[:n-1]
		return ref
	}
	s.next++
	return s.next - 1
}

// gc drops the series drop picks, frees their refs and, when it freed any,
// moves the epoch by step (a head collection moves it by 1; the model
// also jumps, to exercise the 24-bit widening). It returns the freed refs.
func (s *modelShard) gc(drop func() bool, step uint32) []uint32 {
	var freed []uint32
	for ref, x := range s.byRef {
		if drop() {
			delete(s.byRef, ref)
			delete(s.byID, x.id)
			freed = append(freed, ref)
		}
	}
	if len(freed) > 0 {
		s.epoch += step
		s.free = append(s.free, freed...)
	}
	return freed
}

// restart renumbers the shard's refs, as a replay or a snapshot restore
// in a new process may, and starts at epoch.
func (s *modelShard) restart(epoch uint32, rng *rand.Rand) {
	ids := make([]string, 0, len(s.byID))
	for id := range s.byID {
		ids = append(ids, id)
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	*s = *newModelShard(s.id, epoch)
	for _, id := range ids {
		ref := s.alloc()
		s.byRef[ref] = modelSeries{id: id, born: epoch}
		s.byID[id] = ref
	}
}

// pendingLearn is a reply whose Learn the appender has not run yet (it
// waits for the WAL while the shard goes on).
type pendingLearn struct {
	b     *Batch
	shard int
	m     *ShardBatch
	rep   ShardReply
}

// routeModel drives a Router and modelShards from a source of bytes.
type routeModel struct {
	next       func() byte
	rng        *rand.Rand // for what need not be replayable byte by byte (shuffles)
	r          *Router
	shards     []*modelShard
	cacheSize  int
	ids        int
	smallStart bool
	byLabels   []bool // per id: keyed by its labels' bytes (Series.Key nil)
	lsets      []labels.Labels
	keys       [][]byte // per id: the explicit key
	hashes     map[string]uint64
	learnt     map[string]map[uint64]bool // cache key → shard<<32|ref ever learnt for it
	pending    []pendingLearn
	inflight   []inflight
	stale      int // messages refused with ErrStaleRoute
	hits       int // lookups that found a route
	t          int64
	steps      int
}

func newRouteModel(next func() byte) *routeModel {
	m := &routeModel{next: next, learnt: map[string]map[uint64]bool{}}
	m.rng = rand.New(rand.NewPCG(uint64(next()), uint64(next())))
	nShards := 1 + int(next()%4)
	m.cacheSize = 1 + int(next())*int(next()%4+1)
	m.smallStart = next()%2 == 0 // start at 4 entries and grow
	m.ids = 4 + int(next()%60)
	forced := next()%2 == 0
	for i := range m.ids {
		id := strconv.Itoa(i)
		m.lsets = append(m.lsets, labels.FromStrings("__name__", "m", "k", id))
		m.keys = append(m.keys, []byte("K"+id))
		m.byLabels = append(m.byLabels, next()%3 == 0)
	}
	if forced {
		// Every cache key has home slot 3 and one tag (bits neither
		// uses: 12-39); keys 2j and 2j+1 share the whole hash unless
		// their checks are equal (a 72-bit collision, a false hit by
		// design).
		m.hashes = map[string]uint64{}
		var all [][]byte
		for i := range m.ids {
			all = append(all, m.keys[i], labelsKey(m.lsets[i]))
		}
		for j, k := range all {
			pair := uint64(j / 2)
			if j%2 == 1 && keyCheck(k) == keyCheck(all[j-1]) {
				pair = uint64(len(all) + j)
			}
			m.hashes[string(k)] = 0xC0FFEE<<40 | pair<<12 | 3
		}
	}
	for i := range nShards {
		m.shards = append(m.shards, newModelShard(i, 0))
	}
	m.newRouter()
	return m
}

func (m *routeModel) newRouter() {
	m.r = NewRouter(RouterOptions{Shards: len(m.shards), CacheSize: m.cacheSize})
	if m.smallStart {
		// A table smaller than minRouteTable, so that growing (while
		// readers hold hints into the old table) is exercised too.
		m.r.cache.tab.Store(newRouteTable(min(m.cacheSize, 4)))
	}
	if m.hashes != nil {
		m.r.cache.testHash = func(key []byte) uint64 {
			if h, ok := m.hashes[string(key)]; ok {
				return h
			}
			return keyHash(key)
		}
	}
	m.learnt = map[string]map[uint64]bool{}
	m.pending = nil
	m.inflight = nil
}

// cacheKey is the route-cache key of id.
func (m *routeModel) cacheKey(id int) []byte {
	if m.byLabels[id] {
		return labelsKey(m.lsets[id])
	}
	return m.keys[id]
}

// checkHit checks a route the cache returned for id.
func (m *routeModel) checkHit(id int, rt Route) error {
	m.hits++
	e := rt.e
	if int(e.shard) >= len(m.shards) {
		return fmt.Errorf("key %d: a route to shard %d of %d", id, e.shard, len(m.shards))
	}
	if !m.learnt[string(m.cacheKey(id))][uint64(e.shard)<<32|uint64(e.ref)] {
		return fmt.Errorf("key %d: route shard %d ref %d was never learnt for it", id, e.shard, e.ref)
	}
	s := m.shards[e.shard]
	if x, ok := s.hinted(e.ref, e.epoch); ok && x.id != strconv.Itoa(id) {
		return fmt.Errorf("key %d: route shard %d ref %d epoch %d names series %q", id, e.shard, e.ref, e.epoch, x.id)
	}
	return nil
}

// sweep looks every key up, unhinted and hinted.
func (m *routeModel) sweep() error {
	var hint RouteHint
	for id := range m.ids {
		for _, h := range []*RouteHint{nil, &hint} {
			if rt, ok := m.r.LookupHinted(m.cacheKey(id), h); ok {
				if err := m.checkHit(id, rt); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (m *routeModel) learn(p pendingLearn) {
	var sc SplitScratch
	for i := range p.m.Series {
		ss := &p.m.Series[i]
		if i < len(p.rep.Refs) && p.rep.Refs[i] != 0 && p.rep.Refs[i] != RefStale {
			src := &p.b.Series[ss.Src]
			key := src.Key
			if key == nil {
				key = labelsKey(src.Labels)
			}
			set := m.learnt[string(key)]
			if set == nil {
				set = map[uint64]bool{}
				m.learnt[string(key)] = set
			}
			set[uint64(p.shard)<<32|uint64(p.rep.Refs[i])] = true
		}
	}
	m.r.Learn(p.b, p.shard, p.m, &p.rep, &sc)
}

// gc collects a shard's head and tells the router, as the shard does
// (Options.RefsFreed, before any freed ref is reused).
func (m *routeModel) gc() error {
	s := m.shards[int(m.next())%len(m.shards)]
	p := m.next()
	step := uint32(1)
	if m.next()%16 == 0 {
		step = 1 + uint32(m.next())<<14 // < 2^22: Forget still sees every route age past 2^22
	}
	freed := s.gc(func() bool { return m.next() < p }, step)
	if len(freed) == 0 {
		return nil
	}
	m.r.Forget(s.id, s.epoch, freed)
	isFreed := map[uint32]bool{}
	for _, ref := range freed {
		isFreed[ref] = true
	}
	for id := range m.ids {
		if rt, ok := m.r.Lookup(m.cacheKey(id)); ok && int(rt.e.shard) == s.id && isFreed[rt.e.ref] {
			return fmt.Errorf("key %d: after Forget(shard %d, epoch %d) a route to freed ref %d remains", id, s.id, s.epoch, rt.e.ref)
		}
	}
	return nil
}

// appendBatch is one request: the parser's lookups, perhaps a collection
// meanwhile, Split, the shards' resolution, then Unlearn or Learn (now or
// later).
func (m *routeModel) appendBatch() error {
	b := &Batch{}
	var hint RouteHint
	n := 1 + int(m.next()%6)
	m.t++
	for range n {
		id := int(m.next()) % m.ids
		var idx uint32
		switch {
		case m.byLabels[id]:
			idx = b.AddSeries(m.lsets[id], nil)
		default:
			if rt, ok := m.r.LookupHinted(m.keys[id], &hint); ok {
				if err := m.checkHit(id, rt); err != nil {
					return err
				}
				idx = b.AddRouted(rt, m.keys[id])
			} else {
				idx = b.AddSeries(m.lsets[id], m.keys[id])
			}
		}
		b.AddSample(idx, m.t, 1)
	}
	if m.next()%4 == 0 {
		if err := m.gc(); err != nil {
			return err
		}
	}
	msgs := newMsgs(len(m.shards))
	var sc SplitScratch
	if err := m.r.Split(b, msgs, &sc); err != nil {
		return err
	}
	if sc.Stats.InvalidSeries > 0 {
		return fmt.Errorf("%d samples of invalid series: %s", sc.Stats.InvalidSeries, sc.Stats.FirstErrText)
	}
	for i, msg := range msgs {
		if len(msg.Series) == 0 {
			continue
		}
		f := inflight{b: b, shard: i, m: msg}
		if m.next()%4 == 0 {
			// Queued in the shard's inbox while the shard serves other
			// messages and collects its head.
			m.inflight = append(m.inflight, f)
			continue
		}
		if err := m.applyMsg(f); err != nil {
			return err
		}
	}
	return nil
}

// inflight is a shard message split but not yet applied.
type inflight struct {
	b     *Batch
	shard int
	m     *ShardBatch
}

// applyMsg has the shard resolve a message, then Unlearns its stale
// routes or Learns its refs (now or later).
func (m *routeModel) applyMsg(f inflight) error {
	b, i, msg := f.b, f.shard, f.m
	rep, err := m.shards[i].apply(b, msg)
	if err != nil {
		return err
	}
	if rep.Err != nil {
		if !errors.Is(rep.Err, ErrStaleRoute) {
			return rep.Err
		}
		m.stale++
		var sc SplitScratch
		m.r.Unlearn(b, msg, &rep, &sc)
		for j, ref := range rep.Refs {
			if ref != RefStale {
				continue
			}
			src := &b.Series[msg.Series[j].Src]
			key := src.Key
			if key == nil {
				key = labelsKey(src.Labels)
			}
			if _, ok := m.r.Lookup(key); ok {
				return fmt.Errorf("series %q: its stale route is still cached after Unlearn", seriesID(src))
			}
		}
		return nil
	}
	p := pendingLearn{b: b, shard: i, m: msg, rep: rep}
	if m.next()%4 == 0 {
		m.pending = append(m.pending, p)
	} else {
		m.learn(p)
	}
	return nil
}

// step runs one operation.
func (m *routeModel) step() error {
	m.steps++
	switch op := m.next() % 16; {
	case op < 8:
		return m.appendBatch()
	case op < 10:
		return m.gc()
	case op < 11:
		if len(m.inflight) > 0 {
			i := int(m.next()) % len(m.inflight)
			f := m.inflight[i]
			m.inflight = append(m.inflight[:i], m.inflight[i+1:]...)
			return m.applyMsg(f)
		}
		return nil
	case op < 13:
		if len(m.pending) > 0 {
			i := int(m.next()) % len(m.pending)
			p := m.pending[i]
			m.pending = append(m.pending[:i], m.pending[i+1:]...)
			m.learn(p)
		}
		return nil
	case op == 13 && m.next()%8 == 0:
		epoch := uint32(m.next()) << 24 >> uint(m.next()%32)
		for _, s := range m.shards {
			s.restart(epoch, m.rng)
		}
		m.newRouter()
		return nil
	default:
		return m.sweep()
	}
}

// runRouteModel runs the model over data (the fuzzer's bytes) until they
// are used up, then sweeps once more.
func runRouteModel(data []byte) (*routeModel, error) {
	pos := 0
	next := func() byte {
		if pos >= len(data) {
			return 0
		}
		pos++
		return data[pos-1]
	}
	m := newRouteModel(next)
	for pos < len(data) {
		if err := m.step(); err != nil {
			return m, fmt.Errorf("step %d (byte %d): %w", m.steps, pos, err)
		}
	}
	return m, m.sweep()
}

// FuzzRouteCacheModel: any sequence of operations keeps the model's
// properties (see routeModel). Seeds in testdata/fuzz/FuzzRouteCacheModel.
func FuzzRouteCacheModel(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		seed := make([]byte, 2000)
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := runRouteModel(data); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRouteCache_RandomModel runs the model over seeded random sequences
// (-routecache.seed replays one).
func TestRouteCache_RandomModel(t *testing.T) {
	seed := *routeModelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -routecache.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	runs, size := 200, 6000
	if testing.Short() {
		runs = 20
	}
	data := make([]byte, size)
	var steps, hits, stale int
	for run := range runs {
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		m, err := runRouteModel(data)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		steps, hits, stale = steps+m.steps, hits+m.hits, stale+m.stale
	}
	t.Logf("%d runs, %d steps: %d route hits checked, %d messages refused as stale", runs, steps, hits, stale)
}
