package stages

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// benchKeys returns n raw keys shaped like line-protocol series keys of
// node_exporter metrics (about 75 bytes), contiguous as in a request body,
// and a batch that carries them with their labels, one sample each.
func benchKeys(n int) ([][]byte, *Batch) {
	var arena []byte
	ends := make([]int, n+1)
	for i := range n {
		arena = fmt.Appendf(arena, "Inode_metric_%03d,instance=%s,job=node,mode=m%d\x00value", i%507, benchHost(i), i)
		ends[i+1] = len(arena)
	}
	keys := make([][]byte, n)
	b := &Batch{}
	for i := range n {
		keys[i] = arena[ends[i]:ends[i+1]:ends[i+1]]
		lset := labels.FromStrings("__name__", fmt.Sprintf("node_metric_%03d", i%507), "instance", benchHost(i), "job", "node", "mode", fmt.Sprint("m", i))
		b.AddSample(b.AddSeries(lset, keys[i]), 1, 1)
	}
	return keys, b
}

func benchHost(i int) string { return fmt.Sprintf("host-%04d.example.com:9100", i/507) }

// learnAll routes b and teaches the router every series (refs 1..n).
func learnAll(tb testing.TB, r *Router, b *Batch) {
	msgs := newMsgs(r.Shards())
	var sc SplitScratch
	if err := r.Split(b, msgs, &sc); err != nil {
		tb.Fatal(err)
	}
	for shard, m := range msgs {
		reply := ShardReply{Epoch: 1, Refs: make([]uint32, len(m.Series))}
		for i := range reply.Refs {
			reply.Refs[i] = uint32(i + 1)
		}
		r.Learn(b, shard, m, &reply, &sc)
	}
}

// BenchmarkRouterLookup measures the route-cache lookup of the parse path:
// 50,700 known series (100 node_exporter hosts) looked up in the order
// they were learnt, as a scrape or a remote-write client repeats them, by
// 1 or 2 goroutines (ns/op is per lookup); guess=false passes no RouteHint
// (every lookup probes).
func BenchmarkRouterLookup(b *testing.B) {
	const n = 50700
	keys, batch := benchKeys(n)
	for _, c := range []struct {
		goroutines int
		guess      bool
	}{{1, true}, {1, false}, {2, true}} {
		goroutines := c.goroutines
		b.Run(fmt.Sprintf("goroutines=%d/guess=%v", goroutines, c.guess), func(b *testing.B) {
			r := NewRouter(RouterOptions{Shards: 2})
			learnAll(b, r, batch)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / goroutines
			for g := range goroutines {
				wg.Go(func() {
					var hint RouteHint
					off := g * n / goroutines
					for i := range per {
						h := &hint
						if !c.guess {
							h = nil
						}
						_, ok := r.LookupHinted(keys[(off+i)%n], h)
						if !ok {
							b.Error("miss")
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkRouteCacheMemory reports the route cache's heap per cached
// series (it keeps no labels) at 50,700 and 1,048,576 series (the default
// bound), and at 1,500,000 (bounded: the older half evicted).
func BenchmarkRouteCacheMemory(b *testing.B) {
	for _, n := range []int{50700, 1 << 20, 1500000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			for range b.N {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				before := ms.HeapAlloc
				c := newRouteCache(DefaultRouteCacheSize, 8)
				l := learner{c: c}
				key := make([]byte, 0, 64)
				for i := range n {
					key = fmt.Appendf(key[:0], "Inode_metric,instance=host-%d:9100,job=node", i)
					l.put(key, cacheEntry{ref: uint32(i + 1), epoch: 1})
				}
				l.done()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapAlloc-before)/float64(c.len()), "B/series")
				b.ReportMetric(float64(c.len()), "cached")
				runtime.KeepAlive(c)
			}
		})
	}
}
