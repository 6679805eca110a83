package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/silverback-tsdb/tsdb/httpfast"
)

//go:embed assets
var assets embed.FS

// Pages are the UI's paths; each serves the same HTML shell and the
// JavaScript router picks the page from the path.
var Pages = []string{"/query", "/explore", "/cardinality", "/status"}

// staticPrefix is where assets are served; Register appends the content
// hash and a slash.
const staticPrefix = "/ui/static/"

// asset is one file ready to serve: raw bytes, type, ETag, and its gzipped
// bytes, compressed on first use (gzipped).
type asset struct {
	raw         []byte
	contentType string
	etag        string
	immutable   bool // served under the hashed prefix
	// gzipped returns the gzipped bytes, compressed once on its first
	// call: at Load every asset's gzip (BestCompression, ~1 MB of
	// compressor state each) was a quarter of the CPU of a server start
	// on an empty directory, on the path to /-/ready.
	gzipped func() []byte
}

// Set is the embedded assets prepared for serving. It is immutable after
// Load and safe for concurrent use.
type Set struct {
	// Prefix is the hashed asset path, e.g. "/ui/static/3f2a…/".
	Prefix string
	files  map[string]*asset // name under assets/ → asset
	index  *asset
}

// Sizes reports the bytes of every embedded asset, raw and gzipped, by
// name (the page weight the docs quote).
func (s *Set) Sizes() map[string][2]int {
	out := make(map[string][2]int, len(s.files)+1)
	for n, a := range s.files {
		out[n] = [2]int{len(a.raw), len(a.gzipped())}
	}
	out["index.html"] = [2]int{len(s.index.raw), len(s.index.gzipped())}
	return out
}

// Load reads and hashes the embedded assets (each is gzipped on its first
// request that accepts gzip).
func Load() (*Set, error) {
	names, err := fs.Glob(assets, "assets/*")
	if err != nil {
		return nil, fmt.Errorf("ui: list assets: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	raw := map[string][]byte{}
	for _, n := range names {
		b, err := assets.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("ui: read %s: %w", n, err)
		}
		name := strings.TrimPrefix(n, "assets/")
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
		raw[name] = b
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	s := &Set{Prefix: staticPrefix + sum + "/", files: map[string]*asset{}}
	for name, b := range raw {
		if name == "index.html" {
			continue
		}
		a := newAsset(b, name, sum)
		a.immutable = true
		s.files[name] = a
	}
	shell, ok := raw["index.html"]
	if !ok {
		return nil, fmt.Errorf("ui: assets/index.html is missing")
	}
	shell = bytes.ReplaceAll(shell, []byte("{{STATIC}}"), []byte(s.Prefix))
	// Preload every module: without it the browser discovers them one
	// import level at a time (app.js → query.js → chart.js → format.js).
	var preload bytes.Buffer
	for _, n := range names {
		if name := strings.TrimPrefix(n, "assets/"); path.Ext(name) == ".js" && name != "app.js" {
			fmt.Fprintf(&preload, "<link rel=\"modulepreload\" href=\"%s%s\">\n", s.Prefix, name)
		}
	}
	shell = bytes.ReplaceAll(shell, []byte("{{PRELOAD}}\n"), preload.Bytes())
	s.index = newAsset(shell, "index.html", sum)
	return s, nil
}

// gzipBytes compresses b at gzip's best level. Writing to a bytes.Buffer
// cannot fail and the level is valid, so the errors are programmer bugs.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		panic("BUG: ui: gzip level: " + err.Error())
	}
	if _, err := zw.Write(b); err != nil {
		panic("BUG: ui: gzip to memory: " + err.Error())
	}
	if err := zw.Close(); err != nil {
		panic("BUG: ui: gzip to memory: " + err.Error())
	}
	return buf.Bytes()
}

func newAsset(b []byte, name, sum string) *asset {
	// Not every system's mime table knows these; and asking it first
	// loaded and parsed the system's tables (/etc/mime.types) on the path
	// to a server's readiness, ~1.4 ms of an empty start's 14 ms of CPU.
	var ct string
	switch ext := path.Ext(name); ext {
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	default:
		ct = mime.TypeByExtension(ext)
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	fh := sha256.Sum256(b)
	return &asset{raw: b, gzipped: sync.OnceValue(func() []byte { return gzipBytes(b) }),
		contentType: ct, etag: `"` + sum + "-" + hex.EncodeToString(fh[:8]) + `"`}
}

// Register loads the embedded assets and adds the UI's routes to srv
// (RegisterSet).
func Register(srv *httpfast.Server) error {
	s, err := Load()
	if err != nil {
		return err
	}
	RegisterSet(srv, s)
	return nil
}

// RegisterSet adds the UI's routes to srv: "/" redirects to /query, the
// page paths serve the HTML shell, and every asset is served under
// s.Prefix. Call it before srv serves. UI routes are not public: with
// basic auth configured the browser asks for credentials once and sends
// them with the API calls too.
func RegisterSet(srv *httpfast.Server, s *Set) {
	srv.Handle("GET", "/", func(ctx *fasthttp.RequestCtx) {
		ctx.Redirect("/query", fasthttp.StatusFound)
	}, httpfast.RouteOptions{Name: "/ui"})
	srv.Handle("GET", "/graph", func(ctx *fasthttp.RequestCtx) {
		// Prometheus's old path; keep the query string (shared links).
		q := ctx.URI().QueryString()
		to := "/query"
		if len(q) > 0 {
			to += "?" + string(q)
		}
		ctx.Redirect(to, fasthttp.StatusFound)
	}, httpfast.RouteOptions{Name: "/ui"})
	for _, p := range Pages {
		srv.Handle("GET", p, s.index.serve, httpfast.RouteOptions{Name: "/ui"})
	}
	names := make([]string, 0, len(s.files))
	for n := range s.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		srv.Handle("GET", s.Prefix+n, s.files[n].serve, httpfast.RouteOptions{Name: "/ui/static"})
	}
}

// serve writes the asset, gzipped when the client accepts it, or 304 when
// the client's copy is current.
func (a *asset) serve(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", a.etag)
	if a.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(inm, a.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType(a.contentType)
	if ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set("Content-Encoding", "gzip")
		ctx.Response.SetBodyRaw(a.gzipped())
		return
	}
	ctx.Response.SetBodyRaw(a.raw)
}

// etagMatch reports whether an If-None-Match list names etag.
func etagMatch(inm []byte, etag string) bool {
	for _, t := range bytes.Split(inm, []byte(",")) {
		t = bytes.TrimSpace(t)
		t = bytes.TrimPrefix(t, []byte("W/"))
		if string(t) == etag || string(t) == "*" {
			return true
		}
	}
	return false
}
