package httpfast

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/encoding/protowire"
)

// Influx line protocol endpoints: POST /write (v1: db, rp, precision,
// u/p) and POST /api/v2/write (org, bucket, precision).
//
// Mapping, as VictoriaMetrics does: a field named "value" becomes a sample
// of the metric named after the measurement, any other field f a sample of
// "measurement_f"; tags become labels; with Options.InfluxDBLabel set, the
// db (v2: bucket) parameter becomes a label of that name. Names are
// sanitised to the data model (every byte outside [a-zA-Z0-9_:] → '_', a
// leading digit gets a '_' prefix), which leaves valid Prometheus names as
// they are. Integer, unsigned and boolean (1/0) fields are samples; string
// fields are skipped and counted (tsdb_ingest_not_stored_total). A line
// without a timestamp gets the request's receive time.

func (s *Server) handleInfluxV1(ctx *fasthttp.RequestCtx) { s.handleInflux(ctx, false) }
func (s *Server) handleInfluxV2(ctx *fasthttp.RequestCtx) { s.handleInflux(ctx, true) }

func (s *Server) handleInflux(ctx *fasthttp.RequestCtx, v2 bool) {
	style, dbParam := styleInfluxV1, "db"
	if v2 {
		style, dbParam = styleInfluxV2, "bucket"
	}
	args := ctx.QueryArgs()
	prec, ok := parsePrecision(args.Peek("precision"), v2)
	if !ok {
		s.requestError(ctx, fmt.Errorf("%w: precision %q (want ns, us, ms or s%s)", ErrBadParam, args.Peek("precision"), map[bool]string{false: ", or n, u, m, h", true: ""}[v2]), style)
		return
	}
	var db []byte
	if s.opts.InfluxDBLabel != "" {
		db = args.Peek(dbParam)
	}
	actx, cancel := s.appendContext()
	defer cancel()
	ing := s.getIngester(actx, s.pmInflux)
	defer s.putIngester(ing)
	body, err := ing.body.decode(s, ctx.PostBody(), ctx.Request.Header.Peek("Content-Encoding"))
	if err != nil {
		s.requestError(ctx, err, style)
		return
	}
	if n := bytes.Count(body, []byte{'\n'}) + 1; n > s.lim.MaxLinesPerRequest {
		s.requestError(ctx, fmt.Errorf("%w: %d lines, limit %d per request (--ingest.max-lines-per-request); nothing stored", ErrTooLarge, n, s.lim.MaxLinesPerRequest), style)
		return
	}
	s.parseInflux(ing, body, prec, db)
	ing.flush()
	s.finish(ctx, ing, style, "line")
}

// parseInflux parses body line by line into ing's batch, flushing it when
// full. Bad lines are recorded and skipped.
func (s *Server) parseInflux(ing *ingester, body []byte, prec lpPrecision, db []byte) {
	lp := &ing.lp
	lineNo := 0
	for len(body) > 0 {
		lineNo++
		var line []byte
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			line, body = body[:nl], body[nl+1:]
		} else {
			line, body = body, nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		lead := 0
		for lead < len(line) && (line[lead] == ' ' || line[lead] == '\t') {
			lead++
		}
		line = line[lead:]
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if e, ok := parseLineLazy(line, lp); !ok {
			s.lineError(ing, lineNo, lead, e)
			continue
		}
		t := ing.now
		if lp.hasTS {
			var ok bool
			if t, ok = prec.toMillis(lp.ts); !ok {
				ing.parseErrorf(lineNo, 0, "timestamp out of range: %d", lp.ts)
				continue
			}
		}
		for fi := range lp.fields {
			f := &lp.fields[fi]
			if f.kind == lpString {
				ing.res.strings++
				continue
			}
			// The key: db (flag, length, bytes), series key (length,
			// bytes), field key. Lengths, not separators: a measurement,
			// tag or field may hold any byte, NUL too, and two label sets
			// must never share a key (the route cache keeps no labels).
			start := ing.keyStart(keyInflux)
			if db != nil {
				ing.keys = append(ing.keys, 1)
				ing.keys = protowire.AppendVarint(ing.keys, uint64(len(db)))
				ing.keys = append(ing.keys, db...)
			} else {
				ing.keys = append(ing.keys, 0)
			}
			ing.keys = protowire.AppendVarint(ing.keys, uint64(len(lp.key)))
			ing.keys = append(ing.keys, lp.key...)
			ing.keys = append(ing.keys, f.k...)
			idx, hit := ing.series(start)
			if !hit {
				// A miss: the key was not validated yet (parseLineLazy).
				if !lp.keyParsed {
					if _, e, ok := parseSeriesKey(line, lp); !ok {
						ing.dropSeries(idx, start)
						s.lineError(ing, lineNo, lead, e)
						break
					}
				}
				if msg := s.influxLabels(ing, f.k, db); msg != "" {
					ing.dropSeries(idx, start)
					ing.parseError(lineNo, 0, msg)
					break
				}
			}
			ing.addSample(idx, t, f.v, lineNo)
		}
		if ing.full() && !ing.flush() {
			return
		}
	}
}

// lineError records a line that failed to parse; lead is the column
// offset of its leading blanks.
func (s *Server) lineError(ing *ingester, lineNo, lead int, e lpError) {
	if e.tok != nil {
		ing.parseErrorf(lineNo, e.col+lead, "%s: %q", e.msg, truncate(e.tok, 64))
	} else {
		ing.parseError(lineNo, e.col+lead, e.msg)
	}
}

// influxLabels builds the labels of ing.lp's series for field key fk and
// sets them on the batch's last series. It returns a problem or "".
func (s *Server) influxLabels(ing *ingester, fk, db []byte) string {
	lp := &ing.lp
	b := ing.lbuf[:0]
	sb := &ing.sb
	sb.Reset()
	n0 := len(b)
	b = appendName(b, lp.meas, ", ", true)
	if !(len(fk) == 5 && string(fk) == "value") {
		b = append(b, '_')
		b = appendName(b, fk, ", =", true)
	}
	sb.Add("__name__", ustr(b[n0:]))
	for _, tg := range lp.tags {
		k0 := len(b)
		b = appendName(b, tg.k, ", =", false)
		v0 := len(b)
		b = unescapeLP(b, tg.v, ", =")
		if !utf8.Valid(b[v0:]) {
			ing.lbuf = b
			return fmt.Sprintf("tag %q: value is not valid UTF-8", b[k0:v0])
		}
		sb.Add(ustr(b[k0:v0]), ustr(b[v0:]))
	}
	if db != nil {
		if !utf8.Valid(db) {
			ing.lbuf = b
			return "db parameter is not valid UTF-8"
		}
		sb.Add(s.opts.InfluxDBLabel, ustr(db))
	}
	ing.setLabels(uint32(len(ing.b.Series)-1), ing.buildLabels())
	ing.lbuf = b
	return ""
}

// appendName appends raw unescaped and sanitised to a metric name
// (metric: ':' allowed) or a label name.
func appendName(dst, raw []byte, specials string, metric bool) []byte {
	n0 := len(dst)
	dst = unescapeLP(dst, raw, specials)
	for i := n0; i < len(dst); i++ {
		c := dst[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || metric && c == ':') {
			dst[i] = '_'
		}
	}
	if len(dst) > n0 && dst[n0] >= '0' && dst[n0] <= '9' {
		dst = append(dst, 0)
		copy(dst[n0+1:], dst[n0:len(dst)-1])
		dst[n0] = '_'
	}
	return dst
}

// truncate shortens b for an error message.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
