// Package client is the Go client of a Silverback server (`tsdb start`):
// writes (Prometheus text, Influx line protocol, remote write, JSON lines)
// with retries, the Prometheus query API (Query, QueryRange, Series,
// Labels, LabelValues) and Export.
//
// # Errors
//
// A request the server refused is an *Error carrying the HTTP status and,
// for the query API, the envelope's errorType ("bad_data", "execution",
// "timeout", ...), so callers can tell a bad query from an overloaded
// server with errors.As.
//
// # Retries
//
// Writes are retried with exponential backoff and full jitter on
// connection errors, 5xx answers, and 429/503 (waiting at least their
// Retry-After); never on other 4xx (the request itself is wrong, and a
// 400 for a partly bad body has stored the good rest). Queries are not
// retried. Every call takes a context that bounds it, retries included.
//
// # Concurrency
//
// A Client is safe for concurrent use; it holds no per-call state.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Options configure New. The zero value retries 5 times from 100ms up to
// 10s between attempts, over http.DefaultClient.
type Options struct {
	// HTTPClient sends the requests (default http.DefaultClient).
	HTTPClient *http.Client
	// Username and Password, when Username is set, are sent as basic auth.
	Username, Password string
	// MaxRetries bounds the retries of a write after the first attempt
	// (default 5; negative: none).
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults
	// 100ms and 10s); the wait doubles per attempt, with full jitter.
	MinBackoff, MaxBackoff time.Duration
	// Gzip compresses text and line-protocol write bodies.
	Gzip bool
	// UserAgent is sent with every request (default "silverback-client").
	UserAgent string
}

// Client talks to one server.
type Client struct {
	base *url.URL
	o    Options
}

// New returns a client of the server at addr ("http://host:8080"; a bare
// "host:8080" means http).
func New(addr string, o Options) (*Client, error) {
	if addr == "" {
		return nil, errors.New("client: empty server address")
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("client: server address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: server address %q: scheme must be http or https", addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "silverback-client"
	}
	return &Client{base: u, o: o}, nil
}

// Error is a request the server answered with an error status.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Type is the query API's errorType ("bad_data", "execution",
	// "timeout", "canceled", "internal", "unavailable", "not_found"); empty
	// for other endpoints.
	Type string
	// Message is the server's error text.
	Message string
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("server answered %d (%s): %s", e.StatusCode, e.Type, e.Message)
	}
	return fmt.Sprintf("server answered %d: %s", e.StatusCode, e.Message)
}

// Temporary reports whether a retry may succeed (5xx, 429).
func (e *Error) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// request is one HTTP call's description, replayable for retries.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	encoding     string
	retry        bool
}

// do sends r (retrying if r.retry) and returns the response with its body
// unread; the caller closes it. Error statuses become *Error.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	attempts := 1
	if r.retry && c.o.MaxRetries > 0 {
		attempts += c.o.MaxRetries
	}
	var last error
	for i := range attempts {
		if i > 0 {
			wait := c.backoff(i)
			var ae *Error
			if errors.As(last, &ae) && ae.RetryAfter > wait {
				wait = ae.RetryAfter
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, errors.Join(ctx.Err(), last)
			case <-t.C:
			}
		}
		resp, err := c.once(ctx, r)
		if err == nil {
			return resp, nil
		}
		last = err
		if ctx.Err() != nil {
			return nil, err
		}
		var ae *Error
		if errors.As(err, &ae) && !ae.Temporary() {
			return nil, err
		}
	}
	return nil, last
}

// backoff is the wait before attempt i (1-based retries): full jitter
// over min*2^(i-1), capped.
func (c *Client) backoff(i int) time.Duration {
	d := c.o.MinBackoff << min(i-1, 30)
	if d <= 0 || d > c.o.MaxBackoff {
		d = c.o.MaxBackoff
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func (c *Client) once(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r.path, r.query), body)
	if err != nil {
		return nil, err
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.encoding != "" {
		req.Header.Set("Content-Encoding", r.encoding)
	}
	req.Header.Set("User-Agent", c.o.UserAgent)
	if c.o.Username != "" {
		req.SetBasicAuth(c.o.Username, c.o.Password)
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	var env struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Status == "error" {
		e.Type, e.Message = env.ErrorType, env.Error
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = time.Until(t)
		}
	}
	return nil, e
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// send posts a write body and discards the answer.
func (c *Client) send(ctx context.Context, r request, compress bool) error {
	r.method, r.retry = http.MethodPost, true
	if compress && c.o.Gzip {
		gz, err := gzipBytes(r.body)
		if err != nil {
			return err
		}
		r.body, r.encoding = gz, "gzip"
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
