package stages

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// labelSep separates names and values in the hash encoding. 0xff never
// occurs in valid UTF-8, so no two label sets encode alike.
const labelSep = 0xff

// HashLabels returns the stable series hash of lset: xxhash64 over
// name 0xff value 0xff for each label in sorted order. It is part of the
// on-disk contract (it decides a series' shard; docs/format/shards.md) and
// must never change for an existing data directory. buf is scratch space;
// the grown buffer is returned for reuse, so steady-state calls do not
// allocate.
func HashLabels(buf []byte, lset labels.Labels) (uint64, []byte) {
	buf = buf[:0]
	lset.Range(func(l labels.Label) {
		buf = append(buf, l.Name...)
		buf = append(buf, labelSep)
		buf = append(buf, l.Value...)
		buf = append(buf, labelSep)
	})
	return xxhash.Sum64(buf), buf
}

// ShardOf maps a series hash to one of n shards.
func ShardOf(hash uint64, n int) int {
	// Multiply-shift instead of modulo: uniform for any n and cheaper; the
	// high bits of xxhash are as good as the low ones.
	hi, _ := bits.Mul64(hash, uint64(n))
	return int(hi)
}
