package shard

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/stages"
)

// TestHead_LabelsRoundTrip creates and removes series at random (enough
// churn for several arena compactions, and one label set larger than an
// arena page) and checks after every step that each live series' labels
// decode to what was stored, that equalLabels accepts exactly its own set,
// and that every symbol is released at the end.
func TestHead_LabelsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	h := newHead()
	live := map[uint32]labels.Labels{}
	var buf []byte
	var refs []uint32
	mk := func(i int) labels.Labels {
		b := labels.NewScratchBuilder(4)
		b.Add("__name__", fmt.Sprintf("m%d", i%50))
		b.Add("instance", fmt.Sprintf("host-%d:9100", i))
		b.Add("job", "node")
		if i%3 == 0 {
			b.Add("mode", []string{"idle", "user", "system"}[i%9/3])
		}
		return b.Labels()
	}
	big := labels.NewScratchBuilder(0)
	for i := range labelPageSize / 2 {
		big.Add(fmt.Sprintf("l%06d", i), strings.Repeat("v", i%7+1))
	}
	bigSet := big.Labels()
	compactions := 0
	for step := range 600_000 {
		var lset labels.Labels
		if len(refs) > 0 && rng.IntN(2) == 0 {
			k := rng.IntN(len(refs))
			ref := refs[k]
			refs[k] = refs[len(refs)-1]
			refs = refs[:len(refs)-1]
			h.remove(ref)
			if h.lbls.dead == 0 {
				compactions++ // the removal compacted the arena
			}
			delete(live, ref)
		} else {
			if step == 1000 {
				lset = bigSet
			} else {
				lset = mk(rng.IntN(200_000))
			}
			var hash uint64
			hash, buf = stages.HashLabels(buf, lset)
			if _, ms := h.lookup(hash, lset); ms != nil {
				continue
			}
			ref, ms := h.create(0, hash, lset)
			if step == 1000 {
				require.Greater(t, encodedLen(h.lbls.get(ms.lbl)), labelPageSize) // spans pages
			}
			live[ref] = lset
			refs = append(refs, ref)
		}
		if step%5000 == 0 || step == 1001 {
			for ref, want := range live {
				ms := h.get(ref)
				require.NotNil(t, ms)
				require.True(t, labels.Equal(want, h.labels(ms)), "ref %d", ref)
				require.True(t, h.equalLabels(ms, want))
				require.False(t, h.equalLabels(ms, labels.NewBuilder(want).Set("job", "other").Labels()))
				require.False(t, h.equalLabels(ms, labels.NewBuilder(want).Set("zz", "x").Labels()))
				require.False(t, h.equalLabels(ms, labels.NewBuilder(want).Del("job").Labels()))
			}
		}
	}
	require.Positive(t, compactions)
	for _, ref := range refs {
		h.remove(ref)
	}
	require.Equal(t, 0, h.active)
	require.Equal(t, 0, h.lbls.live)
	names, err := h.index.LabelNames()
	require.NoError(t, err)
	require.Empty(t, names)
}
