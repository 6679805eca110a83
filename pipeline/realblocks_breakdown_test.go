package pipeline

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
)

// blockBreakdown splits the bytes of the block in dir into index sections,
// chunk record framing and payloads per series kind (constant: one value
// over the block; counter: never decreasing; gauge: the rest), and checks
// that every chunk decodes. It returns a table for docs/COMPRESSION.md.
func blockBreakdown(tb testing.TB, bl *block.Block) string {
	tb.Helper()
	ix, err := os.ReadFile(filepath.Join(bl.Dir(), "index"))
	if err != nil {
		tb.Fatal(err)
	}
	names := []string{"series", "series offsets", "symbols", "postings", "timestamps"}
	ns := 4
	if ix[4] == 2 {
		ns = 5
	}
	toc := len(ix) - (8*ns + 4)
	offs := make([]int, ns+1)
	for i := range ns {
		offs[i] = int(binary.BigEndian.Uint64(ix[toc+8*i:]))
	}
	offs[ns] = toc
	samples := float64(bl.Meta().Stats.NumSamples)
	var sb strings.Builder
	row := func(what string, n int) {
		fmt.Fprintf(&sb, "| %s | %d | %.4f |\n", what, n, float64(n)/samples)
	}
	sb.WriteString("| part | bytes | B/sample |\n|---|---:|---:|\n")
	row("index: header + TOC", 8+len(ix)-toc)
	for i := range ns {
		row("index: "+names[i], offs[i+1]-offs[i])
	}
	type kind struct {
		series, chunks, samples, frame, payload int
		enc                                     map[chunkstore.Encoding]int
	}
	kinds := map[string]*kind{}
	var metas []block.ChunkMeta
	var it *chunkstore.Iterator
	var cs []chunkstore.Chunk
	for ref := range uint32(bl.NumSeries()) {
		_, metas, err = bl.Series(ref, metas[:0])
		if err != nil {
			tb.Fatal(err)
		}
		cs = cs[:0]
		first, prev := math.NaN(), math.NaN()
		constant, counter := true, true
		n := 0
		for _, m := range metas {
			c, err := bl.Chunk(m.Ref)
			if err != nil {
				tb.Fatal(err)
			}
			cs = append(cs, c)
			it = c.Iterator(it)
			for it.Next() {
				_, v := it.At()
				if n == 0 {
					first = v
				} else {
					if math.Float64bits(v) != math.Float64bits(first) {
						constant = false
					}
					if v < prev {
						counter = false
					}
				}
				prev = v
				n++
			}
			if it.Err() != nil {
				tb.Fatal(it.Err())
			}
		}
		k := "gauge"
		switch {
		case constant:
			k = "constant"
		case counter:
			k = "counter"
		}
		kd := kinds[k]
		if kd == nil {
			kd = &kind{enc: map[chunkstore.Encoding]int{}}
			kinds[k] = kd
		}
		kd.series++
		kd.samples += n
		for _, c := range cs {
			kd.chunks++
			kd.frame += chunkstore.RecordSize(c) - len(c.Data)
			kd.payload += len(c.Data)
			kd.enc[c.Enc]++
		}
	}
	var segBytes int
	segs, _ := filepath.Glob(filepath.Join(bl.Dir(), "chunks", "*"))
	for _, s := range segs {
		st, err := os.Stat(s)
		if err != nil {
			tb.Fatal(err)
		}
		segBytes += int(st.Size()) - 8
	}
	row("chunk segment headers", 8*len(segs))
	ks := make([]string, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	sum := 0
	for _, k := range ks {
		kd := kinds[k]
		row(fmt.Sprintf("%s (%d series, %d chunks %v): record framing", k, kd.series, kd.chunks, kd.enc), kd.frame)
		row(fmt.Sprintf("%s: payload (%.4f B per own sample)", k, float64(kd.payload)/float64(kd.samples)), kd.payload)
		sum += kd.frame + kd.payload
	}
	if sum != segBytes {
		fmt.Fprintf(&sb, "(records sum to %d, segments hold %d)\n", sum, segBytes)
	}
	st, _ := os.Stat(filepath.Join(bl.Dir(), "meta.json"))
	row("meta.json", int(st.Size()))
	if st, err := os.Stat(filepath.Join(bl.Dir(), "tombstones")); err == nil {
		row("tombstones", int(st.Size()))
	}
	return sb.String()
}
