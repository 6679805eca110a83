package pipeline

import (
	"math/rand/v2"
	"testing"
)

// TestSelectHints_Needs checks the chunk filter of SelectHints against
// brute force: a chunk is needed exactly when one of its possible samples
// lies in some step's window (t-Range, t+Ahead].
func TestSelectHints_Needs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		h := SelectHints{Start: r.Int64N(200) - 50, Step: r.Int64N(40), Range: 1 + r.Int64N(30), Ahead: r.Int64N(3) * r.Int64N(20)}
		h.End = h.Start
		if h.Step > 0 {
			h.End += r.Int64N(300)
		}
		mint := r.Int64N(400) - 100
		maxt := mint + r.Int64N(60)
		want := false
		for ts := h.Start; ts <= h.End && !want; ts += max(h.Step, 1) {
			for s := mint; s <= maxt; s++ {
				if s > ts-h.Range && s <= ts+h.Ahead {
					want = true
					break
				}
			}
			if h.Step == 0 {
				break
			}
		}
		if got := h.needs(mint, maxt); got != want {
			t.Fatalf("%+v needs [%d, %d] = %v, want %v", h, mint, maxt, got, want)
		}
	}
	var none *SelectHints
	if !none.needs(5, 6) || !(&SelectHints{}).needs(5, 6) {
		t.Fatal("nil and zero hints must keep every chunk")
	}
}
