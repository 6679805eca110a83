package httpfast

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"
)

// wrap puts the middlewares around a route's handler, outermost first:
// self-metrics (so every answer is counted), authentication, the admin
// gate, then the ingest gate (storage ready, a concurrency slot).
func (s *Server) wrap(h fasthttp.RequestHandler, o RouteOptions) fasthttp.RequestHandler {
	if o.Ingest {
		h = s.ingestGate(h)
	}
	if o.Admin {
		h = s.adminGate(h)
	}
	if !o.Public && s.auth != nil {
		h = s.authGate(h)
	}
	return s.instrument(s.m.handler(o.Name), h)
}

// instrument counts the request by handler and status code and observes
// its duration and body size.
func (s *Server) instrument(hm *handlerMetrics, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		s.m.inFlight.Add(1)
		h(ctx)
		s.m.inFlight.Add(-1)
		hm.observe(ctx.Response.StatusCode(), time.Since(start), len(ctx.Request.Body()))
	}
}

func (s *Server) adminGate(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	if s.opts.EnableAdminAPI {
		return h
	}
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Error("admin APIs are disabled; start the server with --web.enable-admin-api\n", fasthttp.StatusForbidden)
	}
}

// ingestGate answers 503 with Retry-After while there is no storage (the
// WAL is being replayed) and when no ingest slot frees up within the queue
// timeout; otherwise it runs h holding a slot.
func (s *Server) ingestGate(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if s.store.Load() == nil {
			s.unavailable(ctx, "not ready: the database is replaying its write-ahead log; retry later")
			return
		}
		select {
		case s.ingestSlots <- struct{}{}:
		default:
			t := time.NewTimer(s.lim.QueueTimeout)
			select {
			case s.ingestSlots <- struct{}{}:
				t.Stop()
			case <-t.C:
				s.m.slotTimeouts.Inc()
				s.unavailable(ctx, "overloaded: too many concurrent ingest requests (--ingest.max-concurrent-requests="+
					strconv.Itoa(s.lim.MaxConcurrentIngest)+"); retry later")
				return
			}
		}
		defer func() { <-s.ingestSlots }()
		h(ctx)
	}
}

// unavailable answers 503 with Retry-After.
func (s *Server) unavailable(ctx *fasthttp.RequestCtx, msg string) {
	textError(ctx, msg+"\n", fasthttp.StatusServiceUnavailable) // (ctx.Error would drop the headers set before it)
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(s.lim.RetryAfter/time.Second))))
}

// authGate checks the request's credentials against the web config's
// users: HTTP basic auth, or (for Influx clients) the v1 u/p query
// parameters or an "Authorization: Token user:password" header.
func (s *Server) authGate(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		user, pass, ok := credentials(ctx)
		if !ok || !s.auth.check(user, pass) {
			s.m.authFailures.Inc()
			textError(ctx, "unauthorized\n", fasthttp.StatusUnauthorized)
			ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="silverback"`)
			return
		}
		h(ctx)
	}
}

func credentials(ctx *fasthttp.RequestCtx) (user, pass []byte, ok bool) {
	a := ctx.Request.Header.Peek("Authorization")
	switch {
	case len(a) > 6 && bytes.EqualFold(a[:6], []byte("Basic ")):
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(a)-6))
		n, err := base64.StdEncoding.Decode(dec, bytes.TrimSpace(a[6:]))
		if err != nil {
			return nil, nil, false
		}
		u, p, found := bytes.Cut(dec[:n], []byte(":"))
		return u, p, found
	case len(a) > 6 && bytes.EqualFold(a[:6], []byte("Token ")):
		u, p, found := bytes.Cut(bytes.TrimSpace(a[6:]), []byte(":"))
		return u, p, found
	}
	args := ctx.QueryArgs()
	if u := args.Peek("u"); len(u) > 0 {
		return u, args.Peek("p"), true
	}
	return nil, nil, false
}

// authenticator checks passwords against bcrypt hashes. bcrypt costs tens
// of milliseconds by design, far too much per remote-write request, so
// successful checks are remembered by SHA-256 of user and password (the
// cache never holds a password). Safe for concurrent use.
type authenticator struct {
	users map[string][]byte // immutable: user → bcrypt hash
	mu    sync.RWMutex
	ok    map[[32]byte]struct{} // guarded by mu; bounded by maxAuthCache
}

// maxAuthCache bounds remembered successful logins; clients are few, so
// clearing on overflow costs nothing measurable.
const maxAuthCache = 1024

func newAuthenticator(users map[string]string) *authenticator {
	a := &authenticator{users: map[string][]byte{}, ok: map[[32]byte]struct{}{}}
	for u, h := range users {
		a.users[u] = []byte(h)
	}
	return a
}

func (a *authenticator) check(user, pass []byte) bool {
	hash, ok := a.users[string(user)]
	if !ok {
		// Spend the same time as for a known user, so response times do
		// not tell which users exist.
		_ = bcrypt.CompareHashAndPassword(dummyHash, pass)
		return false
	}
	h := sha256.New()
	h.Write(user)
	h.Write([]byte{0})
	h.Write(pass)
	h.Write(hash)
	var k [32]byte
	h.Sum(k[:0])
	a.mu.RLock()
	_, hit := a.ok[k]
	a.mu.RUnlock()
	if hit {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, pass) != nil {
		return false
	}
	a.mu.Lock()
	if len(a.ok) >= maxAuthCache {
		clear(a.ok)
	}
	a.ok[k] = struct{}{}
	a.mu.Unlock()
	return true
}

// dummyHash is bcrypt("x") at the default cost.
var dummyHash = []byte("$2a$10$Yuv9OqbN6lT0LtPvo4R2pOrf2O9Vf6jvr6cI2k9Q0y4yB2L8Xn2lK")

// budget is a counting bound on bytes held by all requests. Safe for
// concurrent use.
type budget struct {
	limit int64
	used  atomic.Int64
}

// tryAcquire takes n bytes if they fit under the limit.
func (b *budget) tryAcquire(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *budget) release(n int64) { b.used.Add(-n) }

// textError writes a plain-text error answer (without resetting headers
// set after it, unlike ctx.Error).
func textError(ctx *fasthttp.RequestCtx, msg string, code int) {
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg)
}
