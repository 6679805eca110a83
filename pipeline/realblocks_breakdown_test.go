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

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/chunkstore"
	"github.com/silverback-tsdb/tsdb/chunkstore/block"
	"github.com/silverback-tsdb/tsdb/loadgen"
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
	samples := float64(bl.Meta().Stats.NumSamples)
	var sb strings.Builder
	row := func(what string, n int) {
		fmt.Fprintf(&sb, "| %s | %d | %.4f |\n", what, n, float64(n)/samples)
	}
	sb.WriteString("| part | bytes | B/sample |\n|---|---:|---:|\n")
	raw := ""
	if ix[4] == 3 {
		// Version 3: the sections below are those of the image, before
		// compression.
		row("index version 3 (zstd), whole file", len(ix))
		dec, err := zstd.NewReader(nil)
		if err != nil {
			tb.Fatal(err)
		}
		img, err := dec.DecodeAll(ix[12:len(ix)-4], append([]byte(nil), ix[:8]...))
		dec.Close()
		if err != nil {
			tb.Fatal(err)
		}
		ix, raw = img, " (uncompressed)"
	}
	ns := 4
	if ix[4] >= 2 {
		ns = 5
	}
	toc := len(ix) - (8*ns + 4)
	offs := make([]int, ns+1)
	for i := range ns {
		offs[i] = int(binary.BigEndian.Uint64(ix[toc+8*i:]))
	}
	offs[ns] = toc
	row("index: header + TOC"+raw, 8+len(ix)-toc)
	for i := range ns {
		row("index: "+names[i]+raw, offs[i+1]-offs[i])
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

// checkRealBlock requires bl to hold exactly the first scrapes of c
// shifted by shift ms: every series of the capture, every timestamp and
// every value bit for bit (NaN payloads and stale markers included).
func checkRealBlock(tb testing.TB, bl *block.Block, c *loadgen.Capture, scrapes int, shift int64) {
	tb.Helper()
	// Empty label values mean "absent": the database drops them.
	key := func(l labels.Labels) string {
		var sb strings.Builder
		l.Range(func(l labels.Label) {
			if l.Value != "" {
				fmt.Fprintf(&sb, "%q=%q,", l.Name, l.Value)
			}
		})
		return sb.String()
	}
	idx := make(map[string]int, c.Series())
	for i := range c.Series() {
		idx[key(c.SeriesLabels(i))] = i
	}
	seen := 0
	var metas []block.ChunkMeta
	var it *chunkstore.Iterator
	for ref := range uint32(bl.NumSeries()) {
		lset, ms, err := bl.Series(ref, metas[:0])
		if err != nil {
			tb.Fatal(err)
		}
		metas = ms
		i, ok := idx[key(lset)]
		if !ok {
			tb.Fatalf("series %s is not in the capture", lset)
		}
		seen++
		n := 0
		next := func() (int64, float64) {
			for ; n < scrapes; n++ {
				if t, v, ok := c.At(n, i); ok {
					n++
					return t + shift, v
				}
			}
			tb.Fatalf("%s: more samples in the block than in the capture", lset)
			return 0, 0
		}
		for _, m := range metas {
			ch, err := bl.Chunk(m.Ref)
			if err != nil {
				tb.Fatal(err)
			}
			it = ch.Iterator(it)
			for it.Next() {
				t, v := it.At()
				wt, wv := next()
				if t != wt || math.Float64bits(v) != math.Float64bits(wv) {
					tb.Fatalf("%s: sample (%d, %v %#x), capture (%d, %v %#x)", lset, t, v, math.Float64bits(v), wt, wv, math.Float64bits(wv))
				}
			}
			if err := it.Err(); err != nil {
				tb.Fatal(err)
			}
		}
		for ; n < scrapes; n++ {
			if _, _, ok := c.At(n, i); ok {
				tb.Fatalf("%s: the block lacks scrape %d", lset, n)
			}
		}
	}
	if seen != c.Series() {
		tb.Fatalf("the block holds %d series, the capture %d", seen, c.Series())
	}
}
