package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fasthttp"

	"github.com/silverback-tsdb/tsdb/stages"
)

// Payload is one request as a worker built it. It is owned by that worker:
// a Target reads it only during Send and keeps nothing of it afterwards.
type Payload struct {
	Protocol Protocol
	// Body is the request body as sent (snappy-compressed for remote
	// write); RawBytes its size before compression. Empty for
	// ProtocolInProcess.
	Body     []byte
	RawBytes int
	// Batch holds the samples for ProtocolInProcess; nil otherwise.
	Batch *stages.Batch
	// Samples is the number of samples in the request.
	Samples int
}

// Target receives requests. Send is called concurrently by the workers (one
// request in flight per worker) and must be safe for that. It returns nil
// when the target accepted the request, a *StatusError when it answered
// with a failure status, or any other error for a failure to deliver.
type Target interface {
	Send(ctx context.Context, p *Payload) error
}

// InboxDepther is implemented by targets that can report the server's
// shard inbox depth (queued messages, summed over shards). ok is false when
// the depth is not available. Called once a second by Run's reporter.
type InboxDepther interface {
	InboxDepth(ctx context.Context) (depth float64, ok bool)
}

// StatusError is a target's answer with a non-success status.
type StatusError struct {
	Code int
	Body string // the start of the response body
	// RetryAfter is the answer's Retry-After in seconds (0: none).
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("loadgen: status %d: %s", e.Code, e.Body)
}

// NullTarget discards every request: for measuring the generator alone
// (`--addr null:`). Safe for concurrent use.
type NullTarget struct {
	requests atomic.Int64
	bytes    atomic.Int64
}

// Send counts p and discards it.
func (t *NullTarget) Send(_ context.Context, p *Payload) error {
	t.requests.Add(1)
	t.bytes.Add(int64(len(p.Body)))
	return nil
}

// Requests and Bytes report what Send discarded.
func (t *NullTarget) Requests() int64 { return t.requests.Load() }

// Bytes returns the bytes of the bodies Send discarded.
func (t *NullTarget) Bytes() int64 { return t.bytes.Load() }

// HTTPOptions configure NewHTTPTarget.
type HTTPOptions struct {
	// URL is where requests are POSTed: http[s]://host:port[/path]. With
	// no path, the protocol's usual one: /write (influx), /api/v1/write
	// (rw1, rw2), /v1/metrics (otlp).
	URL      string
	Protocol Protocol
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// MetricsURL is scraped for the inbox depth (default: the URL's
	// scheme and host with /metrics; "-" disables it). InboxMetric is the
	// metric whose series are summed (default DefaultInboxMetric).
	MetricsURL  string
	InboxMetric string
	// Header holds extra request headers (for example Authorization).
	Header map[string]string
	// Gzip compresses influx and OTLP bodies with gzip (Content-Encoding:
	// gzip) before sending; remote write is always snappy-compressed.
	Gzip bool
}

// DefaultInboxMetric is the server's shard inbox depth gauge (one series
// per shard).
const DefaultInboxMetric = "tsdb_shard_inbox_depth"

// HTTPTarget POSTs payloads to a URL with fasthttp's client (keep-alive
// connections, one per concurrent request). Safe for concurrent use.
//
// NB: fasthttp's idle-connection cleaner is a goroutine of the library
// that exits on its own up to ten seconds after the last connection closed;
// Close closes the connections but does not wait for it.
type HTTPTarget struct {
	url         string
	protocol    Protocol
	timeout     time.Duration
	client      *fasthttp.HostClient
	metricsURL  string
	metrics     *fasthttp.HostClient // nil when metricsURL is ""
	inboxMetric string
	header      map[string]string
	gzip        bool
	gzBytes     atomic.Int64
}

// hostClient returns a keep-alive client for u's host.
func hostClient(u *url.URL, timeout time.Duration) *fasthttp.HostClient {
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &fasthttp.HostClient{
		Addr: addr,
		// net's dialer, not fasthttp's default one, whose DNS cache runs
		// a package-level cleaner goroutine nobody waits for.
		Dial:                   func(addr string) (net.Conn, error) { return d.Dial("tcp", addr) },
		IsTLS:                  u.Scheme == "https",
		Name:                   "silverback-loadgen",
		ReadTimeout:            timeout,
		WriteTimeout:           timeout,
		DisablePathNormalizing: true,
	}
}

// NewHTTPTarget returns a target for o. It fails only on invalid options.
func NewHTTPTarget(o HTTPOptions) (*HTTPTarget, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: target url %q: %w", o.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("loadgen: target url %q: want http://host:port[/path]", o.URL)
	}
	if u.Path == "" || u.Path == "/" {
		switch o.Protocol {
		case ProtocolInflux:
			u.Path = defaultPathInflux
		case ProtocolRW1, ProtocolRW2:
			u.Path = defaultPathRW
		case ProtocolOTLP:
			u.Path = defaultPathOTLP
		default:
			return nil, fmt.Errorf("loadgen: protocol %q has no HTTP form", o.Protocol)
		}
	}
	if o.Gzip && (o.Protocol == ProtocolRW1 || o.Protocol == ProtocolRW2) {
		return nil, fmt.Errorf("loadgen: gzip: remote write bodies are snappy-compressed by the protocol; gzip is for influx and otlp")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.InboxMetric == "" {
		o.InboxMetric = DefaultInboxMetric
	}
	switch o.MetricsURL {
	case "":
		o.MetricsURL = u.Scheme + "://" + u.Host + "/metrics"
	case "-":
		o.MetricsURL = ""
	}
	t := &HTTPTarget{
		url:         u.String(),
		protocol:    o.Protocol,
		timeout:     o.Timeout,
		client:      hostClient(u, o.Timeout),
		metricsURL:  o.MetricsURL,
		inboxMetric: o.InboxMetric,
		header:      maps.Clone(o.Header),
		gzip:        o.Gzip,
	}
	if o.MetricsURL != "" {
		mu, err := url.Parse(o.MetricsURL)
		if err != nil || mu.Host == "" || mu.Scheme != "http" && mu.Scheme != "https" {
			return nil, fmt.Errorf("loadgen: metrics url %q: want http://host:port/path", o.MetricsURL)
		}
		t.metrics = hostClient(mu, time.Second)
	}
	return t, nil
}

// URL returns the URL requests go to.
func (t *HTTPTarget) URL() string { return t.url }

// Send POSTs p with the protocol's headers.
func (t *HTTPTarget) Send(ctx context.Context, p *Payload) error {
	if p.Protocol != t.protocol {
		return fmt.Errorf("loadgen: payload of protocol %s for a target of protocol %s", p.Protocol, t.protocol)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(t.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	switch p.Protocol {
	case ProtocolInflux:
		req.Header.SetContentType(contentTypeInflux)
	case ProtocolRW1:
		req.Header.SetContentType(contentTypeRW1)
		req.Header.Set(fasthttp.HeaderContentEncoding, encodingSnappy)
		req.Header.Set(headerRWVersion, rw1Version)
	case ProtocolRW2:
		req.Header.SetContentType(contentTypeRW2)
		req.Header.Set(fasthttp.HeaderContentEncoding, encodingSnappy)
		req.Header.Set(headerRWVersion, rw2Version)
	case ProtocolOTLP:
		req.Header.SetContentType(contentTypeOTLP)
	default:
		return fmt.Errorf("loadgen: protocol %q over HTTP", p.Protocol)
	}
	for k, v := range t.header {
		req.Header.Set(k, v)
	}
	if t.gzip {
		gz := gzipPool.Get().(*gzipBuf)
		defer gzipPool.Put(gz)
		if err := gz.compress(p.Body); err != nil {
			return fmt.Errorf("loadgen: gzip: %w", err)
		}
		req.Header.Set(fasthttp.HeaderContentEncoding, "gzip")
		req.SetBodyRaw(gz.buf.Bytes())
		t.gzBytes.Add(int64(gz.buf.Len()))
	} else {
		req.SetBodyRaw(p.Body)
	}
	deadline := time.Now().Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := t.client.DoDeadline(req, resp, deadline); err != nil {
		return fmt.Errorf("loadgen: post %s: %w", t.url, err)
	}
	if code := resp.StatusCode(); code < 200 || code > 299 {
		body := resp.Body()
		if len(body) > 256 {
			body = body[:256]
		}
		se := &StatusError{Code: code, Body: strings.TrimSpace(string(body))}
		if ra, err := strconv.Atoi(string(resp.Header.Peek(fasthttp.HeaderRetryAfter))); err == nil && ra > 0 {
			se.RetryAfter = time.Duration(ra) * time.Second
		}
		return se
	}
	return nil
}

// GzipBytes returns the bytes of the gzip-compressed bodies sent (0
// without HTTPOptions.Gzip); the summary's bytes_sent counts bodies before
// gzip.
func (t *HTTPTarget) GzipBytes() int64 { return t.gzBytes.Load() }

// gzipBuf is a pooled gzip writer with its output buffer.
type gzipBuf struct {
	w   *gzip.Writer
	buf bytes.Buffer
}

var gzipPool = sync.Pool{New: func() any {
	g := &gzipBuf{}
	g.w, _ = gzip.NewWriterLevel(&g.buf, gzip.BestSpeed) // a valid level: no error
	return g
}}

// compress replaces g.buf's content with src gzip-compressed.
func (g *gzipBuf) compress(src []byte) error {
	g.buf.Reset()
	g.w.Reset(&g.buf)
	if _, err := g.w.Write(src); err != nil {
		return err
	}
	return g.w.Close()
}

// InboxDepth scrapes the metrics URL and sums the inbox metric's series.
func (t *HTTPTarget) InboxDepth(ctx context.Context) (float64, bool) {
	if t.metrics == nil {
		return 0, false
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(t.metricsURL)
	deadline := time.Now().Add(time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := t.metrics.DoDeadline(req, resp, deadline); err != nil || resp.StatusCode() != fasthttp.StatusOK {
		return 0, false
	}
	return SumMetric(resp.Body(), t.inboxMetric)
}

// Close closes the target's idle connections.
func (t *HTTPTarget) Close() error {
	t.client.CloseIdleConnections()
	if t.metrics != nil {
		t.metrics.CloseIdleConnections()
	}
	return nil
}

// SumMetric sums the values of every series of metric name in an
// exposition text body; ok is false when there is none.
func SumMetric(body []byte, name string) (sum float64, ok bool) {
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		if !bytes.HasPrefix(line, []byte(name)) || len(line) == len(name) {
			continue
		}
		rest := line[len(name):]
		switch rest[0] {
		case '{':
			i := bytes.LastIndexByte(rest, '}')
			if i < 0 {
				continue
			}
			rest = rest[i+1:]
		case ' ', '\t':
		default:
			continue // another metric with this prefix
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(string(f[0]), 64)
		if err != nil {
			continue
		}
		sum += v
		ok = true
	}
	return sum, ok
}

// errorClass names the class of a Send error for the summary: "4xx",
// "5xx", "other_status", "timeout", "transport".
func errorClass(err error) string {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		switch se.Code / 100 {
		case 4:
			return "4xx"
		case 5:
			return "5xx"
		}
		return "other_status"
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "transport"
}
