package httpfast

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// CSV import on POST /api/v1/import/csv?format=<spec>, with the column
// spec of VictoriaMetrics:
//
//	format=<col>:<type>:<arg>,...    col is 1-based
//	  <col>:metric:<name>     a sample of metric <name> per row (empty cell: none)
//	  <col>:label:<name>      label <name> of every metric of the row
//	  <col>:time:<layout>     the row's timestamp: unix_s, unix_ms, unix_ns,
//	                          rfc3339, or custom:<Go layout>; default receive time
//
// Fields are separated by ','; a field may be double-quoted ("" is a
// quote inside). Additions: extra_label=name=value adds a label to every
// series, and delimiter=; (any single byte) changes the separator.

type csvColumn struct {
	kind   byte // 'm' metric, 'l' label, 't' time
	name   []byte
	layout string // time: unix_s, unix_ms, unix_ns, rfc3339 or a Go layout
}

// csvSpec is a parsed format parameter: columns by index (nil: ignored).
type csvSpec struct {
	cols  []*csvColumn
	delim byte
	extra [][2][]byte
}

func parseCSVFormat(spec []byte) (*csvSpec, error) {
	if len(spec) == 0 {
		return nil, fmt.Errorf("%w: the format parameter is required (e.g. format=1:label:host,2:metric:load,3:time:unix_s)", ErrBadParam)
	}
	cs := &csvSpec{delim: ','}
	hasMetric := false
	for _, part := range strings.Split(string(spec), ",") {
		colS, rest, ok := strings.Cut(part, ":")
		typ, arg, ok2 := strings.Cut(rest, ":")
		col, err := strconv.Atoi(colS)
		if !ok || !ok2 || err != nil || col < 1 || col > 1024 {
			return nil, fmt.Errorf("%w: format entry %q (want <column>:<metric|label|time>:<arg>, column 1 to 1024)", ErrBadParam, part)
		}
		c := &csvColumn{}
		switch typ {
		case "metric":
			c.kind, c.name = 'm', []byte(arg)
			hasMetric = true
			if arg == "" {
				return nil, fmt.Errorf("%w: format entry %q: empty metric name", ErrBadParam, part)
			}
		case "label":
			c.kind, c.name = 'l', []byte(arg)
			if !validLabelName(c.name) {
				return nil, fmt.Errorf("%w: format entry %q: invalid label name", ErrBadParam, part)
			}
		case "time":
			c.kind = 't'
			switch {
			case arg == "unix_s" || arg == "unix_ms" || arg == "unix_ns" || arg == "rfc3339":
				c.layout = arg
			case strings.HasPrefix(arg, "custom:") && len(arg) > len("custom:"):
				c.layout = arg[len("custom:"):]
			default:
				return nil, fmt.Errorf("%w: format entry %q: time layout must be unix_s, unix_ms, unix_ns, rfc3339 or custom:<Go layout>", ErrBadParam, part)
			}
		default:
			return nil, fmt.Errorf("%w: format entry %q: type %q (want metric, label or time)", ErrBadParam, part, typ)
		}
		for len(cs.cols) < col {
			cs.cols = append(cs.cols, nil)
		}
		if cs.cols[col-1] != nil {
			return nil, fmt.Errorf("%w: column %d appears twice in format", ErrBadParam, col)
		}
		cs.cols[col-1] = c
	}
	if !hasMetric {
		return nil, fmt.Errorf("%w: format has no metric column", ErrBadParam)
	}
	return cs, nil
}

func (s *Server) handleCSVImport(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	cs, err := parseCSVFormat(args.Peek("format"))
	if err != nil {
		s.requestError(ctx, err, stylePlain)
		return
	}
	if d := args.Peek("delimiter"); len(d) > 0 {
		if len(d) != 1 || d[0] == '"' || d[0] == '\n' {
			s.requestError(ctx, fmt.Errorf("%w: delimiter %q (want one byte, not a quote or newline)", ErrBadParam, d), stylePlain)
			return
		}
		cs.delim = d[0]
	}
	for _, v := range args.PeekMulti("extra_label") {
		name, value, ok := bytes.Cut(v, []byte{'='})
		if !ok || !validLabelName(name) {
			s.requestError(ctx, fmt.Errorf("%w: extra_label %q (want name=value)", ErrBadParam, truncate(v, 64)), stylePlain)
			return
		}
		cs.extra = append(cs.extra, [2][]byte{bytes.Clone(name), bytes.Clone(value)})
	}
	actx, cancel := s.appendContext()
	defer cancel()
	ing := s.getIngester(actx, s.pmCSV)
	defer s.putIngester(ing)
	body, err := ing.body.decode(s, ctx.PostBody(), ctx.Request.Header.Peek("Content-Encoding"))
	if err != nil {
		s.requestError(ctx, err, stylePlain)
		return
	}
	if n := bytes.Count(body, []byte{'\n'}) + 1; n > s.lim.MaxLinesPerRequest {
		s.requestError(ctx, fmt.Errorf("%w: %d lines, limit %d per request (--ingest.max-lines-per-request); nothing stored", ErrTooLarge, n, s.lim.MaxLinesPerRequest), stylePlain)
		return
	}
	s.parseCSV(ing, body, cs)
	ing.flush()
	s.finish(ctx, ing, stylePlain, "line")
}

// csvCells splits one CSV line into cells appended to dst (quoted cells
// are unquoted into ing.lbuf). ok is false with a column on a bad quote.
func csvCells(dst [][]byte, line []byte, delim byte, ing *ingester) ([][]byte, int, bool) {
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			o := len(ing.lbuf)
			j := i + 1
			for {
				if j >= len(line) {
					return dst, i + 1, false
				}
				if line[j] == '"' {
					if j+1 < len(line) && line[j+1] == '"' {
						ing.lbuf = append(ing.lbuf, '"')
						j += 2
						continue
					}
					break
				}
				ing.lbuf = append(ing.lbuf, line[j])
				j++
			}
			dst = append(dst, ing.lbuf[o:len(ing.lbuf):len(ing.lbuf)])
			j++
			if j < len(line) && line[j] != delim {
				return dst, j + 1, false
			}
			i = j
		} else {
			j := i
			for j < len(line) && line[j] != delim {
				j++
			}
			dst = append(dst, line[i:j])
			i = j
		}
		if i >= len(line) {
			return dst, 0, true
		}
		i++ // the delimiter
	}
}

func (s *Server) parseCSV(ing *ingester, body []byte, cs *csvSpec) {
	cells := ing.cells[:0]
	defer func() { clear(cells); ing.cells = cells[:0] }()
	lineNo := 0
	for len(body) > 0 {
		lineNo++
		var line []byte
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			line, body = body[:nl], body[nl+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ing.lbuf = ing.lbuf[:0]
		var col int
		var ok bool
		if cells, col, ok = csvCells(cells[:0], line, cs.delim, ing); !ok {
			ing.parseError(lineNo, col, "bad quoting")
			continue
		}
		if len(cells) < len(cs.cols) {
			ing.parseErrorf(lineNo, 0, "%d fields, the format names column %d", len(cells), len(cs.cols))
			continue
		}
		t := ing.now
		bad := false
		for ci, c := range cs.cols {
			if c == nil || c.kind != 't' {
				continue
			}
			var err error
			if t, err = csvTime(cells[ci], c.layout); err != nil {
				ing.parseErrorf(lineNo, 0, "column %d: %v", ci+1, err)
				bad = true
			}
		}
		if bad {
			continue
		}
		for ci, c := range cs.cols {
			if c == nil || c.kind != 'm' || len(cells[ci]) == 0 {
				continue
			}
			v, ok := parseTextValue(cells[ci])
			if !ok {
				ing.parseErrorf(lineNo, 0, "column %d: invalid value %q", ci+1, truncate(cells[ci], 32))
				continue
			}
			start := ing.keyStart(keyCSV)
			ing.keys = appendPairString(ing.keys, "__name__", c.name)
			for li, l := range cs.cols {
				if l != nil && l.kind == 'l' {
					ing.keys = appendPair(ing.keys, l.name, cells[li])
				}
			}
			for _, e := range cs.extra {
				ing.keys = appendPair(ing.keys, e[0], e[1])
			}
			idx, hit := ing.series(start)
			if !hit {
				if msg := ing.labelsFromKey(idx, ing.keys[start+1:]); msg != "" {
					ing.dropSeries(idx, start)
					ing.parseError(lineNo, 0, msg)
					continue
				}
			}
			ing.addSample(idx, t, v, lineNo)
		}
		clear(cells)
		if ing.full() && !ing.flush() {
			return
		}
	}
}

// csvTime parses a time cell to milliseconds.
func csvTime(b []byte, layout string) (int64, error) {
	switch layout {
	case "unix_s", "unix_ms", "unix_ns":
		f, err := strconv.ParseFloat(ustr(b), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("invalid %s time %q", layout, truncate(b, 32))
		}
		switch layout {
		case "unix_s":
			f *= 1e3
		case "unix_ns":
			f /= 1e6
		}
		if math.Abs(f) > math.MaxInt64/2 {
			return 0, fmt.Errorf("%s time %q out of range", layout, truncate(b, 32))
		}
		return int64(math.Round(f)), nil
	case "rfc3339":
		t, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			return 0, fmt.Errorf("invalid rfc3339 time %q", truncate(b, 40))
		}
		return t.UnixMilli(), nil
	}
	t, err := time.Parse(layout, string(b))
	if err != nil {
		return 0, fmt.Errorf("time %q does not match layout %q", truncate(b, 40), layout)
	}
	return t.UnixMilli(), nil
}
