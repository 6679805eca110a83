package stages

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// shardMsg is one shard message in flight to a raceShard.
type shardMsg struct {
	b     *Batch
	m     *ShardBatch
	reply chan ShardReply
}

// TestRouter_ConcurrentLearnForget runs the router as the pipeline does,
// for the race detector and the model's safety check at once: appender
// goroutines look keys up (hinted), Split, send each part to its shard's
// goroutine and Learn the reply or Unlearn a stale one, while each shard
// goroutine resolves messages like the shard (modelShard) and, between
// messages, collects its head and calls Forget, as Options.RefsFreed
// does; a reader goroutine looks keys up all the while. A hint that
// resolves to another series than its key's fails the test. Seeded: the
// interleaving is the scheduler's, the operations are -routecache.seed's.
func TestRouter_ConcurrentLearnForget(t *testing.T) {
	seed := *routeModelSeed
	if seed == 0 {
		seed = 1
	}
	const nShards, nKeys, appenders, batches = 3, 200, 3, 800
	for _, cacheSize := range []int{48, 4096} {
		t.Run(fmt.Sprintf("cache=%d", cacheSize), func(t *testing.T) {
			r := NewRouter(RouterOptions{Shards: nShards, CacheSize: cacheSize})
			lsets := make([]labels.Labels, nKeys)
			keys := make([][]byte, nKeys)
			for i := range nKeys {
				lsets[i] = labels.FromStrings("__name__", "m", "k", strconv.Itoa(i))
				keys[i] = []byte("K" + strconv.Itoa(i))
			}
			var (
				errMu    sync.Mutex
				firstErr error
			)
			fail := func(err error) {
				errMu.Lock()
				defer errMu.Unlock()
				if firstErr == nil {
					firstErr = err
				}
			}
			inboxes := make([]chan shardMsg, nShards)
			var shards sync.WaitGroup
			var forgets [nShards]int
			for i := range nShards {
				inboxes[i] = make(chan shardMsg, 4)
				shards.Go(func() {
					s := newModelShard(i, 0)
					rng := rand.New(rand.NewPCG(seed, uint64(100+i)))
					for msg := range inboxes[i] {
						if rng.IntN(4) == 0 {
							p := rng.Float64() / 2
							if freed := s.gc(func() bool { return rng.Float64() < p }, 1); len(freed) > 0 {
								r.Forget(i, s.epoch, freed)
								forgets[i]++
							}
						}
						rep, err := s.apply(msg.b, msg.m)
						if err != nil {
							fail(err)
						}
						msg.reply <- rep
					}
				})
			}
			var work sync.WaitGroup
			stop := make(chan struct{})
			work.Go(func() { // a reader
				var hint RouteHint
				for {
					select {
					case <-stop:
						return
					default:
					}
					for _, k := range keys {
						if rt, ok := r.LookupHinted(k, &hint); ok && int(rt.e.shard) >= nShards {
							fail(fmt.Errorf("a route to shard %d", rt.e.shard))
						}
					}
					hint.Reset()
				}
			})
			var appends sync.WaitGroup
			var stale [appenders]int
			for a := range appenders {
				appends.Go(func() {
					rng := rand.New(rand.NewPCG(seed, uint64(a)))
					msgs := newMsgs(nShards)
					replies := make([]chan ShardReply, nShards)
					for i := range replies {
						replies[i] = make(chan ShardReply, 1)
					}
					var sc SplitScratch
					var hint RouteHint
					b := &Batch{}
					for n := range batches {
						b.Reset()
						// A client's series in a stable order, as scrapes
						// repeat them, from one of a few overlapping ranges.
						from := rng.IntN(nKeys - 20)
						to := from + 1 + rng.IntN(20)
						for id := from; id < to; id++ {
							var idx uint32
							if rt, ok := r.LookupHinted(keys[id], &hint); ok {
								idx = b.AddRouted(rt, keys[id])
							} else {
								idx = b.AddSeries(lsets[id], keys[id])
							}
							b.AddSample(idx, int64(n), 1)
						}
						hint.Reset()
						if err := r.Split(b, msgs, &sc); err != nil {
							fail(err)
							return
						}
						for i, m := range msgs {
							if len(m.Series) > 0 {
								inboxes[i] <- shardMsg{b: b, m: m, reply: replies[i]}
							}
						}
						for i, m := range msgs {
							if len(m.Series) == 0 {
								continue
							}
							rep := <-replies[i]
							if errors.Is(rep.Err, ErrStaleRoute) {
								r.Unlearn(b, m, &rep, &sc)
								stale[a]++
								continue
							}
							r.Learn(b, i, m, &rep, &sc)
						}
					}
				})
			}
			appends.Wait()
			close(stop)
			work.Wait()
			for _, in := range inboxes {
				close(in)
			}
			shards.Wait()
			require.NoError(t, firstErr)
			t.Logf("forgets per shard %v, stale messages per appender %v, %d routes cached", forgets, stale, r.cache.len())
		})
	}
}
