package httpfast

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// The admin API (POST /api/v1/admin/tsdb/...), Prometheus's shapes, only
// with --web.enable-admin-api; otherwise each answers as Prometheus does,
// errorType "unavailable" with status 500.
//
//   - delete_series: match[] (required), start, end: tombstones, 204.
//   - clean_tombstones: rewrite blocks without deleted data, 204.
//   - snapshot: hard-link blocks and persist heads into
//     <data-dir>/snapshots/<name>, data {"name": "<name>"}.
//   - flush: persist every shard's head as a block now (Silverback's own;
//     Prometheus has no such endpoint), 204.

func (s *Server) adminEnabled() *apiError {
	if s.opts.EnableAdminAPI {
		return nil
	}
	return &apiError{typ: errorUnavailable, err: errors.New("admin APIs disabled (start the server with --web.enable-admin-api)")}
}

func (s *Server) apiDeleteSeries(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	if e := s.adminEnabled(); e != nil {
		return apiResult{err: e}
	}
	ms := formValues(ctx, "match[]")
	if len(ms) == 0 {
		return apiResult{err: badData(errors.New("no match[] parameter provided"))}
	}
	mint, maxt, e := timeRange(ctx)
	if e != nil {
		return apiResult{err: e}
	}
	rctx, cancel := requestContext(0)
	defer cancel()
	for _, m := range ms {
		sel, err := promParser.ParseMetricSelector(m)
		if err != nil {
			return apiResult{err: invalidParam(err, "match[]")}
		}
		if err := qb.DB.Delete(rctx, mint, maxt, sel...); err != nil {
			return apiResult{err: &apiError{typ: errorInternal, err: err}}
		}
	}
	return apiResult{}
}

func (s *Server) apiCleanTombstones(_ *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	if e := s.adminEnabled(); e != nil {
		return apiResult{err: e}
	}
	rctx, cancel := requestContext(0)
	defer cancel()
	if err := qb.DB.CleanTombstones(rctx); err != nil {
		return apiResult{err: &apiError{typ: errorInternal, err: err}}
	}
	return apiResult{}
}

func (s *Server) apiSnapshot(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	if e := s.adminEnabled(); e != nil {
		return apiResult{err: e}
	}
	if v := formValue(ctx, "skip_head"); v != "" {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			return apiResult{err: invalidParam(fmt.Errorf("unable to parse boolean: %w", err), "skip_head")}
		}
		if skip {
			return apiResult{err: invalidParam(errors.New("skip_head=true is not supported: a snapshot always includes the heads"), "skip_head")}
		}
	}
	name := fmt.Sprintf("%s-%016x", time.Now().UTC().Format("20060102T150405Z0700"), rand.Int64())
	dir := filepath.Join(qb.DB.Dir(), "snapshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return apiResult{err: &apiError{typ: errorInternal, err: fmt.Errorf("create snapshot directory: %w", err)}}
	}
	rctx, cancel := requestContext(0)
	defer cancel()
	if err := qb.DB.Snapshot(rctx, filepath.Join(dir, name)); err != nil {
		return apiResult{err: &apiError{typ: errorInternal, err: fmt.Errorf("create snapshot: %w", err)}}
	}
	return apiResult{data: struct {
		Name string `json:"name"`
	}{name}}
}

func (s *Server) apiFlush(_ *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	if e := s.adminEnabled(); e != nil {
		return apiResult{err: e}
	}
	rctx, cancel := requestContext(0)
	defer cancel()
	if err := qb.DB.Compact(rctx, true); err != nil {
		return apiResult{err: &apiError{typ: errorInternal, err: err}}
	}
	return apiResult{}
}
