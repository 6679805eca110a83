package chunkstore_test

import (
	"fmt"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// A compactor re-encodes each series' chunks into long chunks; one
// Reencoder per compacting goroutine keeps its buffers between series. Its
// method matches block.CompactOptions.Rechunk once the labels argument is
// dropped by a closure.
func ExampleReencoder() {
	// Three head-sized chunks of a counter that grows by 0.36 per scrape.
	var src []chunkstore.Chunk
	var a chunkstore.Appender
	for c := range 3 {
		a.Reset(nil)
		for i := range 120 {
			k := c*120 + i
			a.Append(1767225600000+int64(k)*15000, float64(k*36)/100)
		}
		src = append(src, a.Chunk())
	}
	r := chunkstore.NewReencoder(chunkstore.ReencodeOptions{MaxSamples: 2880})
	out, err := r.Reencode(nil, src)
	if err != nil {
		fmt.Println(err)
		return
	}
	in := 0
	for _, c := range src {
		in += len(c.Data)
	}
	fmt.Printf("%d chunks, %d bytes -> %d chunk %s, %d samples, %d bytes\n",
		len(src), in, len(out), out[0].Enc, out[0].NumSamples, len(out[0].Data))
	it := out[0].Iterator(nil)
	it.SeekTo(1767225600000 + 300*15000)
	t, v := it.At()
	fmt.Println(t, v)
	// Output:
	// 3 chunks, 2529 bytes -> 1 chunk decimal, 360 samples, 18 bytes
	// 1767230100000 108
}
