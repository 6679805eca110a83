package chunkstore

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/silverback-tsdb/tsdb/loadgen"
	"github.com/stretchr/testify/require"
)

var (
	measure = flag.Bool("measure", false,
		"run TestLongTerm_Sizes: B/sample on real, regular and one day of node data (~25 s; too slow for -race CI)")
	measureWeek = flag.Bool("measure.week", false,
		"TestLongTerm_Sizes: also measure loadgen's node_exporter workload over a week (slow: ~1 min per host)")
	measureHosts = flag.Int("measure.hosts", 4, "hosts of the synthetic week for -measure.week")
)

// sizeStats accumulates encoded sizes of one workload at one chunk size.
type sizeStats struct {
	samples, chunks     int
	xor, xorRec         int // EncXOR payload and record bytes
	dec                 int // EncDecimal forced on every chunk
	best, bestRec       int // per-chunk smaller of the two
	decChunks           int // chunks where EncDecimal won
	valuesOnly          int // best, with the timestamps made perfectly regular
	sharedTS            int // one timestamp column per host per chunk window (EncDecimal, value 0)
	sharedTSRecOverhead int
}

// measureColumns re-encodes each series of one host with chunks of at most
// size samples (0: the whole series) and adds the sizes to st. All series
// of ts share one scrape schedule, as in one host's scrapes.
func measureColumns(t testing.TB, st *sizeStats, ts [][]int64, vs [][]float64, size int) {
	t.Helper()
	maxSamples := size
	if maxSamples == 0 {
		maxSamples = MaxDecimalSamples
	}
	// Reencode cuts N samples into ceil(N/size) equal pieces; the values-only
	// pass below cuts at multiples of size, so give it whole multiples.
	var (
		xorR  = NewReencoder(ReencodeOptions{MaxSamples: maxSamples, Encodings: EncXOR})
		decR  = NewReencoder(ReencodeOptions{MaxSamples: maxSamples, Encodings: EncDecimal})
		bestR = NewReencoder(ReencodeOptions{MaxSamples: maxSamples})
		out   []Chunk
		err   error
		a     Appender
		reg   []int64
		vo    = DecimalEncoder{valuesOnly: true}
	)
	src := func(ts []int64, vs []float64) []Chunk {
		a.Reset(nil)
		for i := range ts {
			a.Append(ts[i], vs[i])
		}
		return []Chunk{a.Chunk()}
	}
	for i := range ts {
		in := src(ts[i], vs[i])
		out, err = xorR.Reencode(out[:0], in)
		require.NoError(t, err)
		for _, c := range out {
			st.xor += len(c.Data)
			st.xorRec += RecordSize(c)
		}
		out, err = decR.Reencode(out[:0], in)
		require.NoError(t, err)
		for _, c := range out {
			st.dec += len(c.Data)
		}
		out, err = bestR.Reencode(out[:0], in)
		require.NoError(t, err)
		for _, c := range out {
			st.best += len(c.Data)
			st.bestRec += RecordSize(c)
			st.samples += c.NumSamples
			st.chunks++
			if c.Enc == EncDecimal {
				st.decChunks++
			}
		}
		// Values only: each piece's EncDecimal body without its timestamp
		// part, or its EncXOR payload with regular timestamps (1 bit per
		// sample), whichever is smaller.
		reg = reg[:0]
		for k := range ts[i] {
			reg = append(reg, ts[i][0]+int64(k)*15000)
		}
		for k := 0; k < len(reg); k += maxSamples {
			pts, pvs := reg[k:min(k+maxSamples, len(reg))], vs[i][k:min(k+maxSamples, len(reg))]
			a.Reset(nil)
			for j := range pts {
				a.Append(pts[j], pvs[j])
			}
			size := len(a.Chunk().Data)
			c, ok, err := vo.Encode(nil, pts, pvs)
			require.NoError(t, err)
			if ok && len(c.Data) < size {
				size = len(c.Data)
			}
			st.valuesOnly += size
		}
	}
	// The shared column: the host's timestamps once, cut like the series.
	zeros := make([]float64, len(ts[0]))
	out, err = decR.Reencode(out[:0], src(ts[0], zeros))
	require.NoError(t, err)
	for _, c := range out {
		st.sharedTS += len(c.Data)
		st.sharedTSRecOverhead += RecordSize(c)
	}
}

func (st *sizeStats) row(name string, size int) string {
	per := func(b int) string { return fmt.Sprintf("%.3f", float64(b)/float64(st.samples)) }
	sz := "whole"
	if size > 0 {
		sz = fmt.Sprint(size)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %d/%d | %s | %s | %s |", name, sz,
		per(st.xor), per(st.xorRec), per(st.dec), per(st.best), per(st.bestRec), st.decChunks, st.chunks,
		per(st.best-st.valuesOnly), per(st.valuesOnly), per(st.valuesOnly+st.sharedTS))
}

const sizesHeader = "| workload | size | xor | xor rec | decimal | best | best rec | decimal chunks | ts part | values only | values + shared ts |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"

// TestLongTerm_Sizes logs B/sample of EncXOR, EncDecimal and the per-chunk
// best at several chunk sizes, split into timestamp and value parts (run
// with -v -measure; add -measure.week for the synthetic week). The figures feed
// docs/COMPRESSION.md §Long-term encoding.
func TestLongTerm_Sizes(t *testing.T) {
	if !*measure && !*measureWeek {
		t.Skip("a measurement, not a test: run with -measure (and -measure.week)")
	}
	var rows []string
	sizes := []int{120, 480, 2880, 0}
	if ts, vs, ok := tryRealData(t); ok {
		for _, size := range []int{10, 20, 0} {
			var st sizeStats
			measureColumns(t, &st, ts, vs, size)
			rows = append(rows, st.row("real (40/series)", size))
		}
	}
	rts, rvs := loadgen.Regular(200, 5760, 1767225600000, 15*time.Second)
	for _, size := range sizes {
		var st sizeStats
		measureColumns(t, &st, rts, rvs, size)
		rows = append(rows, st.row("regular (5760/series)", size))
	}
	g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 1, Seed: 1})
	require.NoError(t, err)
	dts, dvs := g.Columns(5760)
	for _, size := range sizes {
		var st sizeStats
		measureColumns(t, &st, dts, dvs, size)
		rows = append(rows, st.row("node 1 host x 1 day", size))
	}
	if *measureWeek {
		stats := make([]sizeStats, len(sizes))
		for h := range *measureHosts {
			g, err := loadgen.NewNodeExporter(loadgen.NodeExporterOptions{Hosts: 1, Seed: int64(h + 1)})
			require.NoError(t, err)
			wts, wvs := g.Columns(40320)
			for k, size := range sizes {
				measureColumns(t, &stats[k], wts, wvs, size)
			}
		}
		for k, size := range sizes {
			rows = append(rows, stats[k].row(fmt.Sprintf("node %d hosts x 1 week", *measureHosts), size))
		}
	}
	t.Logf("B/sample (payload unless 'rec'):\n%s\n%s", sizesHeader, strings.Join(rows, "\n"))
}

// tryRealData is loadRealData without skipping the caller.
func tryRealData(t *testing.T) (ts [][]int64, vs [][]float64, ok bool) {
	t.Run("load_real", func(t *testing.T) { ts, vs = loadRealData(t) })
	return ts, vs, ts != nil
}
