package httpfast

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/silverback-tsdb/tsdb/pipeline"
	"github.com/silverback-tsdb/tsdb/shard"
	"github.com/silverback-tsdb/tsdb/stages"
)

// The HTTP ingest path.
//
//	handler goroutine (one per request, holding an ingest slot)
//	────────────────────────────────────────────────────────────
//	body ─► bodyDecoder (gzip/snappy into a pooled buffer, under the
//	        decoded-size limit and the server-wide decode budget)
//	     ─► protocol parser: per series it writes the raw series key into
//	        ingester.keys and asks Storage.LookupHinted(key, hint) (the route cache):
//	          hit  → Batch.AddRouted(route, key)   (no label building; the
//	                 route travels with the series, so Split does not look
//	                 the key up again)
//	          miss → parse names and values, build labels (one allocation)
//	        per sample: Batch.AddSample + src[i] = line/item number
//	     ─► every chunkSamples samples, and at the end: Storage.Append
//	        (router → shard inboxes → WAL group commit), then the
//	        AppendStats.Rejects (batch sample indexes) are mapped through
//	        src back to line numbers, and the batch is reset
//	     ─► one answer: 204, or 400/429 naming the first bad lines with
//	        the good rest stored, or 413/415/503 for the whole request
//
// Invariants:
//   - The parser runs on the handler goroutine and fills the batch
//     directly: no channel hop per line, no goroutine per request beyond
//     fasthttp's. The bounded queues that push back are the shard inboxes
//     (Append waits up to Limits.AppendTimeout, then ErrOverloaded → 503),
//     the ingest slots and the decode budget.
//   - Memory per request is bounded independently of its size: the batch
//     never holds more than chunkSamples samples, the key arena only the
//     keys of that batch, the problem list maxProblems entries.
//   - In steady state (series known to the route cache, buffers grown)
//     nothing is allocated per line or sample: Lookup returns the cached
//     route by value, keys are copied into a reused arena,
//     numbers are parsed from the body without string conversion, and
//     the whole ingester (batch, arena, decoder, protocol scratch) is
//     pooled. TestIngest_ParseAllocsPerRun proves it per protocol. A new
//     series repeated in one body (imports, backfills) builds its labels
//     once per request (ingester.missed), not per line.
//   - A raw key must determine its labels: keys start with a protocol
//     byte and include every request parameter that changes the labels
//     (the Influx db label), so two protocols or settings never share an
//     entry with different meanings.
//
// Tried and dropped: leaving Series.Labels empty on a cache hit (what
// stages.Router.Cached was made for): the entry can be evicted between the
// parser's check and Split, and the series would then fail as "no
// labels". Then filling in the cached labels (stages.Router.CachedLabels):
// correct, but Split looked every key up a second time, and the route
// cache's map and stripe locks were 48% of the server's CPU in a remote
// write profile (perf.TestPeerIngestCPU, TSDB_PERF_PROFILE). Now the
// parser's lookup result is the route.

// chunkSamples is how many samples one Append carries at most: large
// enough that the WAL group commit and the channel hops are amortised
// (a shard message of ~8k samples), small enough that a 200 MB import
// holds only ~400 KiB of samples at a time.
const chunkSamples = 16384

// maxProblems is how many bad lines an error answer describes; the counts
// in it stay exact.
const maxProblems = 10

// Protocol key bytes: the first byte of every route-cache key.
const (
	keyInflux = 'I'
	// remote write 1.0 keys are raw Label fields, first byte 0x0a (rwSeriesV1)
	keyRemoteV2 = 'Q'
	keyJSON     = 'J'
	keyText     = 'T'
	keyCSV      = 'C'
	keyOTLP     = 'O'
	keySelf     = 'S'
)

// ingester is one request's ingest state, pooled by the server. Owned by
// the handler goroutine between get and put.
type ingester struct {
	s     *Server
	store Storage
	ctx   context.Context
	pm    *protoMetrics
	now   int64 // receive time, ms

	b    stages.Batch
	keys []byte // route-cache keys of b's series; Series.Key aliases it
	// rb, rsrc and remap are appendRefused's batch, its src and the map
	// from b's series to rb's (scratch, reused).
	rb    stages.Batch
	rsrc  []int32
	remap []int32
	src   []int32 // per sample of b: its line (or item) number, 1-based
	lbuf  []byte  // scratch for unescaped names and values (cache misses)
	sb    labels.ScratchBuilder
	body  bodyDecoder

	res result

	// missed remembers, per request, the labels built for keys the route
	// cache did not know, so a body that repeats a new series (a backfill,
	// an import) builds its labels once, not per line: the cache learns a
	// key only after its Append. Bounded by maxMissed entries.
	missed map[string]labels.Labels
	// hint is the request's stages.RouteHint for Storage.LookupHinted
	// (reset between requests, so a pooled ingester pins no generation
	// of the route cache).
	hint stages.RouteHint

	lp    lpLine    // line protocol scratch
	rw    rwScratch // remote write scratch
	tx    textScratch
	otl   otlpScratch
	cells [][]byte // CSV cells of the current line
}

// result is what a request did, for its answer and the metrics.
type result struct {
	accepted  int // stored or harmless duplicates
	rejected  [stages.NumRejectReasons]int
	parseErrs int
	problems  []problem // the first maxProblems problems, in body order
	fatal     error     // stops the request: overload, closed, storage failure

	exemplars, histograms, strings int // accepted, not stored
}

// problem is one bad line or item.
type problem struct {
	item   int    // line number or item index, 1-based
	col    int    // 1-based byte column in the line; 0: not known
	reason string // stable code: parse_error or a RejectReason name
	msg    string
}

func newIngester(s *Server) *ingester {
	return &ingester{s: s, sb: labels.NewScratchBuilder(16)}
}

// getIngester returns a pooled ingester set up for one request.
func (s *Server) getIngester(ctx context.Context, pm *protoMetrics) *ingester {
	ing := s.ingesters.Get().(*ingester)
	s.resetIngester(ing, ctx, pm)
	return ing
}

// resetIngester sets ing up for one request.
func (s *Server) resetIngester(ing *ingester, ctx context.Context, pm *protoMetrics) {
	ing.store = s.store.Load().s
	ing.ctx = ctx
	ing.pm = pm
	ing.now = s.opts.now().UnixMilli()
	ing.b.Reset()
	ing.hint.Reset()
	ing.keys = ing.keys[:0]
	ing.src = ing.src[:0]
	clear(ing.res.problems)
	ing.res = result{problems: ing.res.problems[:0]}
	if len(ing.missed) > maxMissed/4 {
		ing.missed = nil // let a large map go rather than pool it
	} else {
		clear(ing.missed)
	}
}

// maxMissed bounds ingester.missed (about 100 B per entry).
const maxMissed = 1 << 16

func (s *Server) putIngester(ing *ingester) {
	ing.body.release(s)
	ing.store, ing.ctx = nil, nil
	ing.hint.Reset()
	ing.b.Reset()
	ing.rb.Reset()
	if cap(ing.keys) > maxPooledBodyBytes {
		ing.keys = nil
	}
	s.ingesters.Put(ing)
}

// appendContext bounds a request's Appends by Limits.AppendTimeout. NB:
// its parent is not the fasthttp RequestCtx: that must not be used after
// the handler returns, and the context package would watch a foreign
// parent from a goroutine of its own (a data race the race detector
// found, and a goroutine per request).
func (s *Server) appendContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.lim.AppendTimeout)
}

// keyStart begins a series key with the protocol byte; the parser appends
// the rest to ing.keys and calls series.
func (ing *ingester) keyStart(proto byte) int {
	start := len(ing.keys)
	ing.keys = append(ing.keys, proto)
	return start
}

// series adds the series whose key is ing.keys[start:] to the batch and
// reports whether the route cache knew it (then its labels are set; else
// the caller builds them and calls setLabels, or dropSeries).
func (ing *ingester) series(start int) (uint32, bool) {
	end := len(ing.keys)
	return ing.seriesKey(ing.keys[start:end:end])
}

// seriesKey is series for a key anywhere (ing.keys or the request body:
// it must stay unchanged until the batch is flushed).
func (ing *ingester) seriesKey(key []byte) (uint32, bool) {
	rt, ok := ing.store.LookupHinted(key, &ing.hint)
	if !ok {
		if lset, seen := ing.missed[string(key)]; seen {
			return ing.b.AddSeries(lset, key), true
		}
	}
	return ing.b.AddRouted(rt, key), ok
}

// setLabels sets the labels a parser built for series idx (a cache miss)
// and remembers them for the rest of the request.
func (ing *ingester) setLabels(idx uint32, lset labels.Labels) {
	s := &ing.b.Series[idx]
	s.Labels = lset
	if ing.missed == nil {
		ing.missed = map[string]labels.Labels{}
	}
	if len(ing.missed) < maxMissed {
		ing.missed[string(s.Key)] = lset
	}
}

// dropSeries removes the last series (idx) and its key, which started at
// keyStart: its line turned out to be bad before any sample was added.
func (ing *ingester) dropSeries(idx uint32, keyStart int) {
	ing.b.Series[idx] = stages.Series{}
	ing.b.Series = ing.b.Series[:idx]
	ing.keys = ing.keys[:keyStart]
}

func (ing *ingester) addSample(idx uint32, t int64, v float64, item int) {
	ing.b.AddSample(idx, t, v)
	ing.src = append(ing.src, int32(item))
}

// full reports whether the batch should be appended now (between lines).
func (ing *ingester) full() bool { return len(ing.b.Samples) >= chunkSamples }

// flush appends the batch, maps its rejects to items and resets it. It
// returns false when the request must stop (res.fatal is set).
func (ing *ingester) flush() bool {
	if ing.res.fatal != nil {
		return false
	}
	if len(ing.b.Samples) > 0 {
		st, err := ing.store.Append(ing.ctx, &ing.b)
		ing.count(st)
		if err != nil && onlyStaleRoutes(err) {
			err = ing.appendRefused(err)
		}
		if err != nil {
			ing.res.fatal = err
		}
	}
	ing.b.Reset()
	ing.keys = ing.keys[:0]
	ing.src = ing.src[:0]
	return ing.res.fatal == nil
}

// count adds an Append's outcome to the result, its rejects mapped
// through ing.src to items.
func (ing *ingester) count(st stages.AppendStats) {
	ing.res.accepted += st.Appended + st.Duplicates
	for r := stages.RejectReason(1); int(r) < stages.NumRejectReasons; r++ {
		ing.res.rejected[r] += st.Count(r)
	}
	for _, rj := range st.Rejects {
		item := 0
		if int(rj.Sample) < len(ing.src) {
			item = int(ing.src[rj.Sample])
		}
		ing.addProblem(item, 0, rj.Reason.String(), rj.Detail)
	}
}

// onlyStaleRoutes reports whether every error err joins is
// stages.ErrStaleRoute (not an overload, a closed database, a WAL
// failure).
func onlyStaleRoutes(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyStaleRoutes(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, stages.ErrStaleRoute)
}

// appendRefused completes a batch whose Append failed only with
// stages.ErrStaleRoute: the shards holding a route to a series dropped
// meanwhile stored nothing of their part (stages.Series.Refused), the
// others stored theirs. It appends exactly the refused series' samples
// again, each series with its labels (rebuilt from its raw key when the
// parser took the route instead of building them), so nothing stored is
// sent twice. Answering 503 instead would make the client retry the whole
// batch, and with --ingest.reject-late the samples the first attempt
// stored would come back as out_of_order rejects (a 400 for stored data;
// TestIngest_StaleRouteRetryNeverRejectsStored). It returns the retry's
// error, or stale when a key's labels cannot be rebuilt (a malformed key,
// which would be a bug: the request then answers 503 as before).
func (ing *ingester) appendRefused(stale error) error {
	failed, failedSrc := ing.b, ing.src
	ing.b, ing.src = ing.rb, ing.rsrc[:0]
	ing.b.Reset()
	defer func() {
		// The retry's buffers go back to rb for the next time; the
		// failed batch is flush's to reset.
		ing.rb, ing.rsrc = ing.b, ing.src
		ing.b, ing.src = failed, failedSrc
	}()
	remap := ing.remap[:0]
	for range failed.Series {
		remap = append(remap, -1)
	}
	ing.remap = remap
	for j, smp := range failed.Samples {
		s := &failed.Series[smp.Series]
		if !s.Refused() {
			continue
		}
		ni := remap[smp.Series]
		if ni < 0 {
			if !s.Labels.IsEmpty() {
				ni = int32(ing.b.AddSeries(s.Labels, s.Key))
			} else {
				ni = int32(ing.b.AddSeries(labels.EmptyLabels(), s.Key))
				if !ing.labelsOfKey(s.Key) {
					return stale
				}
			}
			remap[smp.Series] = ni
		}
		ing.b.AddSample(uint32(ni), smp.T, smp.V)
		ing.src = append(ing.src, failedSrc[j])
	}
	if len(ing.b.Samples) == 0 {
		return stale // nothing was marked: not a refusal this path knows
	}
	st, err := ing.store.Append(ing.ctx, &ing.b)
	ing.count(st)
	return err
}

// labelsOfKey sets the labels of the last series of ing.b from its raw
// route-cache key, as the protocol's parser builds them on a cache miss
// (TestIngest_LabelsOfKeyMatchParser), and reports whether it could. Every
// protocol's key determines its labels (ingest's invariants); text-import
// keys leave out the request's extra_label pairs, which ing.tx still
// holds during the request.
func (ing *ingester) labelsOfKey(key []byte) bool {
	if len(key) == 0 {
		return false
	}
	last := uint32(len(ing.b.Series) - 1)
	switch key[0] {
	case rwLabelTag:
		// Remote write 1.0: the series' label fields, a TimeSeries of
		// labels.
		return ing.s.rwLabelsV1(ing, key) == ""
	case keyRemoteV2, keyJSON, keyCSV, keyOTLP:
		// Length-prefixed name/value pairs, built as the parsers build
		// their labels on a miss (keyed.go).
		return ing.labelsFromKey(last, key[1:]) == ""
	case keyInflux:
		// db flag (1: varint length and bytes), varint length and series
		// key, field key, as the line-protocol parser writes it.
		if len(key) < 2 {
			return false
		}
		p := key[2:]
		var db []byte
		if key[1] == 1 {
			var ok bool
			if db, p, ok = consumeBytes(p); !ok {
				return false
			}
		}
		series, fk, ok := consumeBytes(p)
		if !ok {
			return false
		}
		if _, _, ok := parseSeriesKey(series, &ing.lp); !ok {
			return false
		}
		return ing.s.influxLabels(ing, fk, db) == ""
	case keyText:
		// The series as written (varint length, bytes), then the extra
		// pairs; the name is the series' leading metric characters.
		raw, _, ok := consumeBytes(key[1:])
		if !ok {
			return false
		}
		i := 0
		for i < len(raw) && isMetricChar(raw[i], i == 0) {
			i++
		}
		if i == 0 {
			return false
		}
		return ing.s.textLabels(ing, raw[:i], raw[i:]) == ""
	}
	return false
}

// parseError records a line or item that failed to parse.
func (ing *ingester) parseError(item, col int, msg string) {
	ing.res.parseErrs++
	ing.addProblem(item, col, "parse_error", msg)
}

// parseErrorf formats only when the problem is kept.
func (ing *ingester) parseErrorf(item, col int, format string, args ...any) {
	if len(ing.res.problems) >= maxProblems {
		ing.res.parseErrs++
		return
	}
	ing.parseError(item, col, fmt.Sprintf(format, args...))
}

func (ing *ingester) addProblem(item, col int, reason, msg string) {
	if len(ing.res.problems) < maxProblems {
		ing.res.problems = append(ing.res.problems, problem{item: item, col: col, reason: reason, msg: msg})
	}
}

// buildLabels returns the labels added to ing.sb (sorted, one allocation).
func (ing *ingester) buildLabels() labels.Labels {
	ing.sb.Sort()
	return ing.sb.Labels()
}

// ustr views b as a string without copying. Only for strings that are
// consumed before b changes (ScratchBuilder copies in Labels, map lookups,
// strconv parsing).
func ustr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// errStyle selects the shape of error bodies.
type errStyle uint8

const (
	stylePlain    errStyle = iota // text/plain
	styleInfluxV1                 // {"error": "..."}
	styleInfluxV2                 // {"code": "invalid", "message": "...", "line": N}
	styleRemote                   // text/plain; series-limit rejects are 400, not 429
)

// itemWord names what problem.item counts in messages.
type itemWord string

func (w itemWord) plural(n int) string {
	if n == 1 || strings.HasSuffix(string(w), "s") {
		return string(w)
	}
	return string(w) + "s"
}

// finish counts the request in the protocol metrics and writes the answer.
func (s *Server) finish(ctx *fasthttp.RequestCtx, ing *ingester, style errStyle, word itemWord) {
	r := &ing.res
	pm := ing.pm
	pm.samples.Add(float64(r.accepted))
	pm.parseErrors.Add(float64(r.parseErrs))
	rejected := 0
	for i, n := range r.rejected {
		if n > 0 {
			pm.rejected[i].Add(float64(n))
			rejected += n
		}
	}
	if r.exemplars > 0 {
		pm.exemplars.Add(float64(r.exemplars))
	}
	if r.histograms > 0 {
		pm.histograms.Add(float64(r.histograms))
	}
	if r.strings > 0 {
		pm.strings.Add(float64(r.strings))
	}
	if r.fatal != nil {
		s.fatal(ctx, r.fatal, r.accepted, style)
		return
	}
	if r.parseErrs == 0 && rejected == 0 {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	code := fasthttp.StatusBadRequest
	if r.parseErrs == 0 && rejected == r.rejected[stages.RejectSeriesLimit] && style != styleRemote {
		code = fasthttp.StatusTooManyRequests
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d samples stored", r.accepted)
	if rejected > 0 {
		fmt.Fprintf(&sb, ", %d rejected (", rejected)
		first := true
		for i, n := range r.rejected {
			if n == 0 {
				continue
			}
			if !first {
				sb.WriteString(", ")
			}
			first = false
			fmt.Fprintf(&sb, "%s: %d", stages.RejectReason(i), n)
		}
		sb.WriteString(")")
	}
	if r.parseErrs > 0 {
		fmt.Fprintf(&sb, ", %d %s failed to parse", r.parseErrs, word.plural(r.parseErrs))
	}
	if r.rejected[stages.RejectSeriesLimit] > 0 {
		sb.WriteString("; the active series limit (--storage.max-active-series) is reached")
	}
	sb.WriteString("; first problems:")
	for _, p := range r.problems {
		sb.WriteString("\n")
		writeProblem(&sb, p, word)
	}
	firstItem := 0
	if len(r.problems) > 0 {
		firstItem = r.problems[0].item
	}
	writeError(ctx, code, sb.String(), style, firstItem)
}

func writeProblem(sb *strings.Builder, p problem, word itemWord) {
	if p.item > 0 {
		sb.WriteString(string(word))
		sb.WriteByte(' ')
		sb.WriteString(strconv.Itoa(p.item))
		if p.col > 0 {
			sb.WriteString(" column ")
			sb.WriteString(strconv.Itoa(p.col))
		}
		sb.WriteString(": ")
	}
	sb.WriteString(p.reason)
	sb.WriteString(": ")
	sb.WriteString(p.msg)
}

// retryCaveat is what a 503 after a partial store says about the retry:
// a sample already stored is never stored twice (the same timestamp and
// value is a duplicate, counted as accepted; older than the series' last
// sample it goes to the out-of-order head, which finds it), except that
// with --ingest.reject-late the second case is an out_of_order reject, so
// the retry can answer 400 for samples the first attempt stored
// (docs/API.md).
const retryCaveat = "a retry stores nothing twice, but with --ingest.reject-late it reports the samples already stored that precede a series' newest as out_of_order"

// fatal answers a request stopped by the storage.
func (s *Server) fatal(ctx *fasthttp.RequestCtx, err error, accepted int, style errStyle) {
	switch {
	case errors.Is(err, pipeline.ErrOverloaded), errors.Is(err, pipeline.ErrUnconfirmed), errors.Is(err, context.DeadlineExceeded):
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(s.lim.RetryAfter.Seconds()))))
		writeError(ctx, fasthttp.StatusServiceUnavailable, fmt.Sprintf(
			"overloaded: the shards did not take the samples within %s (%d samples of this request were stored before, and a shard that took its part may still store it; %s); retry later",
			s.lim.AppendTimeout, accepted, retryCaveat), style, 0)
	case errors.Is(err, pipeline.ErrClosed):
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(s.lim.RetryAfter.Seconds()))))
		writeError(ctx, fasthttp.StatusServiceUnavailable, "shutting down; retry later", style, 0)
	case errors.Is(err, stages.ErrStaleRoute):
		// A cached route to a series dropped meanwhile (rare: see
		// stages.ErrStaleRoute) that appendRefused could not complete (a
		// key it could not decode); the routes are dropped, so the retry
		// carries labels.
		ctx.Response.Header.Set("Retry-After", "1")
		writeError(ctx, fasthttp.StatusServiceUnavailable, fmt.Sprintf(
			"a series of this request was dropped while the request was in flight (%d samples were stored before; %s); retry", accepted, retryCaveat), style, 0)
	case errors.Is(err, shard.ErrBatchTooLarge):
		// The message names the bound, no file: split the body and retry.
		var be *shard.BatchTooLargeError
		msg := "batch too large"
		if errors.As(err, &be) {
			msg = strings.TrimPrefix(be.Error(), "shard: ")
		}
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf(
			"%s (%d samples of this request were stored before); split the request", msg, accepted), style, 0)
	case errors.Is(err, shard.ErrFailed):
		// A failed shard refuses appends until a restart rebuilds it; the
		// cause names files and goes to the log.
		s.log.Error("ingest refused by a failed shard", zap.Error(err))
		writeError(ctx, fasthttp.StatusServiceUnavailable, fmt.Sprintf(
			"storage failed: a shard stopped accepting samples and needs a restart (see the server log and /-/ready; %d samples of this request were stored before)", accepted), style, 0)
	default:
		// The error names files; it goes to the log, not to the client.
		s.log.Error("ingest append failed", zap.Error(err))
		writeError(ctx, fasthttp.StatusInternalServerError, "internal storage error (see the server log)", style, 0)
	}
}

// requestError answers a request refused as a whole (before anything was
// stored).
func (s *Server) requestError(ctx *fasthttp.RequestCtx, err error, style errStyle) {
	code := fasthttp.StatusBadRequest
	switch {
	case errors.Is(err, ErrTooLarge):
		code = fasthttp.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMediaType), errors.Is(err, ErrUnsupportedEncoding):
		code = fasthttp.StatusUnsupportedMediaType
	case errors.Is(err, ErrBusy):
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(s.lim.RetryAfter.Seconds()))))
		code = fasthttp.StatusServiceUnavailable
	}
	writeError(ctx, code, publicMessage(err), style, 0)
}

// publicMessage strips the package prefix of our sentinels ("httpfast: ").
func publicMessage(err error) string {
	return strings.ReplaceAll(err.Error(), "httpfast: ", "")
}

func writeError(ctx *fasthttp.RequestCtx, code int, msg string, style errStyle, line int) {
	ctx.SetStatusCode(code)
	switch style {
	case styleInfluxV1:
		ctx.SetContentType("application/json")
		ctx.SetBody(appendJSONObject(nil, "error", msg, "", 0))
	case styleInfluxV2:
		ctx.SetContentType("application/json; charset=utf-8")
		icode := "invalid"
		switch {
		case code == fasthttp.StatusRequestEntityTooLarge:
			icode = "request too large"
		case code == fasthttp.StatusUnsupportedMediaType:
			icode = "unsupported media type"
		case code == fasthttp.StatusServiceUnavailable:
			icode = "unavailable"
		case code == fasthttp.StatusTooManyRequests:
			icode = "too many requests"
		case code >= 500:
			icode = "internal error"
		}
		ctx.SetBody(appendJSONObject(nil, "code", icode, msg, line))
	default:
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(msg + "\n")
	}
}

// appendJSONObject writes {"k": v} or, with msg set, the Influx v2 shape
// {"code": v, "message": msg[, "line": line]}.
func appendJSONObject(dst []byte, k, v, msg string, line int) []byte {
	dst = append(dst, '{')
	dst = appendJSONString(dst, k)
	dst = append(dst, ':')
	dst = appendJSONString(dst, v)
	if msg != "" {
		dst = append(dst, `,"message":`...)
		dst = appendJSONString(dst, msg)
		if line > 0 {
			dst = append(dst, `,"line":`...)
			dst = strconv.AppendInt(dst, int64(line), 10)
		}
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
