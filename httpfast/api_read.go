package httpfast

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// Remote read (POST /api/v1/read), Prometheus's protocol
// (prompb/remote.proto): a snappy-compressed ReadRequest of queries
// (time range and matchers) and the response types the client accepts, in
// its order of preference. We answer the first we support:
//
//   - SAMPLES: one snappy-compressed ReadResponse with a QueryResult per
//     query, every series with all its samples (built in memory, as
//     Prometheus does; bounded by maxReadSamples).
//   - STREAMED_XOR_CHUNKS: Content-Type application/x-streamed-protobuf;
//     proto=prometheus.ChunkedReadResponse, a stream of frames
//     <uvarint length><4b BE CRC32-Castagnoli of the message><message>,
//     each message a ChunkedReadResponse with one series' XOR chunks (at
//     most readFrameBytes of chunk data; a long series spans frames, its
//     labels repeated) and the index of its query. Our chunks are not
//     Prometheus's encoding, so samples are re-encoded into Prometheus XOR
//     chunks of up to 120 samples. Memory is bounded by one frame.

const (
	readFrameBytes       = 1 << 20 // Prometheus's default max bytes in frame
	readSamplesPerChunk  = 120
	maxReadSamples       = 50_000_000 // Prometheus's --storage.remote.read-sample-limit
	maxReadRequestBytes  = 32 << 20
	readContentTypeProto = "application/x-protobuf"
	readContentStreamed  = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
	// maxConcurrentReads is Prometheus's default remote read concurrency
	// limit; a read that finds no slot within the queue timeout gets 503.
	maxConcurrentReads = 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *Server) handleRemoteRead(ctx *fasthttp.RequestCtx) {
	qb := s.query.Load()
	if qb == nil {
		s.unavailable(ctx, "not ready: the database is replaying its write-ahead log; retry later")
		return
	}
	queries, typ, err := decodeReadRequest(ctx.Request.Body())
	if err != nil {
		textError(ctx, err.Error(), fasthttp.StatusBadRequest)
		return
	}
	select {
	case s.readGate <- struct{}{}:
	default:
		t := time.NewTimer(s.lim.QueueTimeout)
		select {
		case s.readGate <- struct{}{}:
			t.Stop()
		case <-t.C:
			s.unavailable(ctx, fmt.Sprintf("overloaded: %d remote reads are running; retry later", maxConcurrentReads))
			return
		}
	}
	// The slot is held until the answer is written: for a streamed answer
	// that is after the handler returns (readStreamed releases it).
	release := func() { <-s.readGate }
	if typ == prompb.ReadRequest_SAMPLES {
		defer release()
		s.readSamples(ctx, qb.DB, queries)
		return
	}
	s.readStreamed(ctx, qb.DB, queries, release)
}

// decodeReadRequest decodes a snappy-compressed ReadRequest into its
// queries and the response type to answer with; errors name what is wrong
// (they are the 400 answer's text).
func decodeReadRequest(body []byte) ([]readQuery, prompb.ReadRequest_ResponseType, error) {
	if n, err := snappy.DecodedLen(body); err != nil || n > maxReadRequestBytes {
		return nil, 0, fmt.Errorf("remote read: body is not snappy block format or decodes to more than %d bytes", maxReadRequestBytes)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, 0, fmt.Errorf("remote read: snappy: %w", err)
	}
	var req prompb.ReadRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, 0, fmt.Errorf("remote read: not a prometheus.ReadRequest: %w", err)
	}
	queries := make([]readQuery, len(req.Queries))
	for i, q := range req.Queries {
		if q == nil {
			return nil, 0, fmt.Errorf("remote read: query %d is empty", i)
		}
		ms, err := fromLabelMatchers(q.Matchers)
		if err != nil {
			return nil, 0, fmt.Errorf("remote read: query %d: %w", i, err)
		}
		queries[i] = readQuery{mint: q.StartTimestampMs, maxt: q.EndTimestampMs, ms: ms}
	}
	if len(req.AcceptedResponseTypes) == 0 {
		return queries, prompb.ReadRequest_SAMPLES, nil
	}
	for _, t := range req.AcceptedResponseTypes {
		if t == prompb.ReadRequest_SAMPLES || t == prompb.ReadRequest_STREAMED_XOR_CHUNKS {
			return queries, t, nil
		}
	}
	return nil, 0, fmt.Errorf("remote read: server does not support any of the requested response types: %v; supported: SAMPLES, STREAMED_XOR_CHUNKS", req.AcceptedResponseTypes)
}

type readQuery struct {
	mint, maxt int64
	ms         []*labels.Matcher
}

func fromLabelMatchers(in []*prompb.LabelMatcher) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, 0, len(in))
	for _, m := range in {
		if m == nil {
			return nil, errors.New("empty matcher")
		}
		var t labels.MatchType
		switch m.Type {
		case prompb.LabelMatcher_EQ:
			t = labels.MatchEqual
		case prompb.LabelMatcher_NEQ:
			t = labels.MatchNotEqual
		case prompb.LabelMatcher_RE:
			t = labels.MatchRegexp
		case prompb.LabelMatcher_NRE:
			t = labels.MatchNotRegexp
		default:
			return nil, fmt.Errorf("invalid matcher type %d", m.Type)
		}
		lm, err := labels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, lm)
	}
	return out, nil
}

func toLabelPairs(ls labels.Labels) []prompb.Label {
	out := make([]prompb.Label, 0, ls.Len())
	ls.Range(func(l labels.Label) { out = append(out, prompb.Label{Name: l.Name, Value: l.Value}) })
	return out
}

// readSelect runs one query and calls fn per series.
func readSelect(ctx context.Context, db *pipeline.DB, q readQuery, fn func(*pipeline.Series) error) error {
	if q.mint > q.maxt {
		return nil // an empty range selects nothing
	}
	qr, err := db.Querier(q.mint, q.maxt)
	if err != nil {
		return err
	}
	defer qr.Close()
	ss, err := qr.Select(ctx, q.ms...)
	if err != nil {
		return err
	}
	for ss.Next() {
		if err := fn(ss.At()); err != nil {
			return err
		}
	}
	return ss.Err()
}

func (s *Server) readSamples(ctx *fasthttp.RequestCtx, db *pipeline.DB, queries []readQuery) {
	rctx, cancel := requestContext(0)
	defer cancel()
	resp := prompb.ReadResponse{Results: make([]*prompb.QueryResult, len(queries))}
	total := 0
	var it *pipeline.SampleIterator
	for i, q := range queries {
		res := &prompb.QueryResult{}
		err := readSelect(rctx, db, q, func(se *pipeline.Series) error {
			ts := &prompb.TimeSeries{Labels: toLabelPairs(se.Labels())}
			it = se.Iterator(it)
			for it.Next() {
				t, v := it.At()
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t, Value: v})
			}
			if err := it.Err(); err != nil {
				return err
			}
			total += len(ts.Samples)
			if total > maxReadSamples {
				return errReadTooManySamples
			}
			res.Timeseries = append(res.Timeseries, ts)
			return nil
		})
		if err != nil {
			s.readError(ctx, err)
			return
		}
		resp.Results[i] = res
	}
	b, err := resp.Marshal()
	if err != nil {
		s.readError(ctx, err)
		return
	}
	ctx.SetContentType(readContentTypeProto)
	ctx.Response.Header.Set("Content-Encoding", "snappy")
	ctx.SetBody(snappy.Encode(nil, b))
}

var errReadTooManySamples = fmt.Errorf("remote read: exceeded the sample limit of %d; narrow the query", maxReadSamples)

func (s *Server) readError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, errReadTooManySamples) {
		textError(ctx, err.Error(), fasthttp.StatusBadRequest)
		return
	}
	// Storage failures may name files: logged, answered without detail.
	s.log.Error("remote read failed", zap.Error(err))
	textError(ctx, "remote read: internal storage error; see the server log", fasthttp.StatusInternalServerError)
}

// readStreamed streams the answer frame by frame from the response body
// writer (after the handler returns; fasthttp runs it on the same
// connection goroutine). An error after the first frame can only cut the
// stream short: the client sees a truncated or CRC-failing frame.
func (s *Server) readStreamed(ctx *fasthttp.RequestCtx, db *pipeline.DB, queries []readQuery, release func()) {
	ctx.SetContentType(readContentStreamed)
	log := s.log
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		rctx, cancel := requestContext(0)
		defer cancel()
		fw := frameWriter{w: w}
		var it *pipeline.SampleIterator
		for i, q := range queries {
			err := readSelect(rctx, db, q, func(se *pipeline.Series) error {
				it = se.Iterator(it)
				return fw.series(int64(i), toLabelPairs(se.Labels()), it)
			})
			if err != nil {
				log.Error("remote read stream cut short", zap.Int("query", i), zap.Error(err))
				return
			}
		}
	})
}

// frameWriter writes ChunkedReadResponse frames.
type frameWriter struct {
	w   *bufio.Writer
	buf []byte
}

// series writes one series' samples as XOR chunks in frames of at most
// readFrameBytes of chunk data.
func (fw *frameWriter) series(qi int64, lset []prompb.Label, it *pipeline.SampleIterator) error {
	cs := prompb.ChunkedSeries{Labels: lset}
	size := 0
	flush := func() error {
		if len(cs.Chunks) == 0 {
			return nil
		}
		err := fw.frame(&prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{&cs}, QueryIndex: qi})
		cs.Chunks, size = cs.Chunks[:0], 0
		return err
	}
	var (
		c          *chunkenc.XORChunk
		app        chunkenc.Appender
		mint, maxt int64
		n          int
	)
	cut := func() error {
		if n == 0 {
			return nil
		}
		data := c.Bytes()
		cs.Chunks = append(cs.Chunks, prompb.Chunk{MinTimeMs: mint, MaxTimeMs: maxt, Type: prompb.Chunk_XOR, Data: data})
		size += len(data)
		n = 0
		if size >= readFrameBytes {
			return flush()
		}
		return nil
	}
	for it.Next() {
		t, v := it.At()
		if n == 0 {
			c = chunkenc.NewXORChunk()
			var err error
			if app, err = c.Appender(); err != nil {
				return err
			}
			mint = t
		}
		app.Append(0, t, v)
		maxt = t
		n++
		if n == readSamplesPerChunk {
			if err := cut(); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if err := cut(); err != nil {
		return err
	}
	return flush()
}

func (fw *frameWriter) frame(m *prompb.ChunkedReadResponse) error {
	n := m.Size()
	if cap(fw.buf) < n {
		fw.buf = make([]byte, n)
	}
	b := fw.buf[:n]
	if _, err := m.MarshalToSizedBuffer(b); err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen64 + 4]byte
	k := binary.PutUvarint(hdr[:], uint64(n))
	binary.BigEndian.PutUint32(hdr[k:], crc32.Checksum(b, castagnoli))
	if _, err := fw.w.Write(hdr[:k+4]); err != nil {
		return err
	}
	_, err := fw.w.Write(b)
	return err
}
