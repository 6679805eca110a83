package loadgen

import (
	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/stages"
)

// batchEncoder fills a stages.Batch for an in-process target. Every host
// keeps its series' label sets and route-cache keys (the labels' own bytes,
// as a protocol handler would pass the wire bytes of a series key), built
// once, so a scrape costs one Series and one Sample per sample.
type batchEncoder struct {
	s       *shape
	hosts   [][]stages.Series
	b       stages.Batch
	sent    bool // b was handed out by finish; the next add empties it
	scratch []labels.Label
}

func newBatchEncoder(s *shape) *batchEncoder { return &batchEncoder{s: s} }

func (e *batchEncoder) prepare(h *host) error {
	for len(e.hosts) <= h.local {
		e.hosts = append(e.hosts, nil)
	}
	ser := e.hosts[h.local][:0]
	for i := range e.s.numSeries() {
		e.scratch = e.s.fillLabels(e.scratch, h, i)
		ls := labels.New(e.scratch...)
		ser = append(ser, stages.Series{Labels: ls, Key: ls.Bytes(nil)})
	}
	e.hosts[h.local] = ser
	return nil
}

func (e *batchEncoder) add(h *host, i, j int) int {
	if e.sent {
		// Labels are kept by the hosts anyway: no need to clear them.
		e.b.Series, e.b.Samples, e.sent = e.b.Series[:0], e.b.Samples[:0], false
	}
	ser := e.hosts[h.local]
	n := 0
	for k := i; k < j; k++ {
		if h.skip != nil && h.skip[k] {
			continue
		}
		e.b.AddSample(e.b.AddSeries(ser[k].Labels, ser[k].Key), h.cur, h.vals[k])
		n++
	}
	return n
}

func (e *batchEncoder) finish(p *Payload) {
	// The target reads the batch during Send only; the next add starts a
	// new one in the same storage.
	p.Batch, e.sent = &e.b, true
}
