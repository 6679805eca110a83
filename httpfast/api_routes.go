package httpfast

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// registerAPIRoutes registers the query, metadata, status and admin API
// (docs/API.md "Query API"). Prometheus accepts GET and form-encoded POST
// for the query and metadata endpoints; so do we.
func (s *Server) registerAPIRoutes() {
	s.optionsHandler = s.wrap(apiOptions, RouteOptions{Name: "/api/v1/*options", Public: true})
	s.readGate = make(chan struct{}, maxConcurrentReads)
	both := func(path string, f apiFunc) {
		h := s.apiHandler(f)
		s.Handle("GET", path, h, RouteOptions{})
		s.Handle("POST", path, h, RouteOptions{})
	}
	get := func(path string, f apiFunc) { s.Handle("GET", path, s.apiHandler(f), RouteOptions{}) }
	both("/api/v1/query", s.apiQuery)
	both("/api/v1/query_range", s.apiQueryRange)
	both("/api/v1/series", apiSeries)
	both("/api/v1/labels", apiLabelNames)
	get(labelValuesRoute, apiLabelValues)
	get("/api/v1/metadata", s.apiMetadata)
	get("/api/v1/status/tsdb", apiTSDBStatus)
	get("/api/v1/status/tsdb/blocks", apiTSDBBlocks)
	get("/api/v1/status/buildinfo", apiBuildInfo)
	get("/api/v1/status/flags", apiFlags)
	get("/api/v1/status/runtimeinfo", apiRuntimeInfo)
	get("/api/v1/status/config", apiConfig)
	get("/api/v1/status/walreplay", apiWALReplay)
	both("/api/v1/format_query", apiFormatQuery)
	both("/api/v1/parse_query", apiParseQuery)
	both("/api/v1/query_exemplars", apiExemplars)
	get("/api/v1/targets", apiTargets)
	get("/api/v1/rules", apiRules)
	get("/api/v1/alerts", apiAlerts)
	s.Handle("POST", "/api/v1/read", s.handleRemoteRead, RouteOptions{})
	for _, m := range []string{"POST", "PUT"} {
		s.Handle(m, "/api/v1/admin/tsdb/delete_series", s.apiHandler(s.apiDeleteSeries), RouteOptions{})
		s.Handle(m, "/api/v1/admin/tsdb/clean_tombstones", s.apiHandler(s.apiCleanTombstones), RouteOptions{})
		s.Handle(m, "/api/v1/admin/tsdb/snapshot", s.apiHandler(s.apiSnapshot), RouteOptions{})
		s.Handle(m, "/api/v1/admin/tsdb/flush", s.apiHandler(s.apiFlush), RouteOptions{})
	}
	for _, m := range []string{"GET", "POST"} {
		s.Handle(m, "/api/v1/export", s.handleExport, RouteOptions{})
		s.Handle(m, "/api/v1/export/prometheus", s.handleExportText, RouteOptions{})
	}
}

// labelValuesRoute is the route key of /api/v1/label/<name>/values.
const labelValuesRoute = "/api/v1/label/:name/values"

// paramRoute finds the route of a path with a parameter (only
// /api/v1/label/<name>/values has one).
func (s *Server) paramRoute(path []byte) *route {
	p := string(path)
	if strings.HasPrefix(p, labelValuesPrefix) {
		if _, ok := labelValuesName(p); ok {
			return s.routes[labelValuesRoute]
		}
	}
	return nil
}

// options answers OPTIONS on /api/v1/ paths (counted as one route).
func (s *Server) options(ctx *fasthttp.RequestCtx) { s.optionsHandler(ctx) }
