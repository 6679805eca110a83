package httpfast

import "github.com/valyala/fasthttp"

// registerIngestRoutes registers every ingest endpoint (docs/API.md).
func (s *Server) registerIngestRoutes() {
	s.pmInflux = s.m.protocol("influx")
	s.pmRemote = s.m.protocol("remote_write")
	s.pmRemoteV2 = s.m.protocol("remote_write_v2")
	s.pmJSON = s.m.protocol("json")
	s.pmText = s.m.protocol("prometheus_text")
	s.pmCSV = s.m.protocol("csv")
	s.pmOTLP = s.m.protocol("otlp")
	s.pmSelf = s.m.protocol("self")
	ing := RouteOptions{Ingest: true}
	s.Handle("POST", "/write", s.handleInfluxV1, ing)
	s.Handle("POST", "/api/v2/write", s.handleInfluxV2, ing)
	s.Handle("POST", "/api/v1/write", s.handleWrite, ing)
	s.Handle("POST", "/api/v1/import/prometheus", s.handleTextImport, ing)
	s.Handle("POST", "/api/v1/import/csv", s.handleCSVImport, ing)
	otlp := RouteOptions{Ingest: true, Name: "/opentelemetry/v1/metrics"}
	s.Handle("POST", "/opentelemetry/v1/metrics", s.handleOTLP, otlp)
	s.Handle("POST", "/api/v1/otlp/v1/metrics", s.handleOTLP, otlp)
	// Influx clients and Telegraf probe /ping before writing.
	ping := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Influxdb-Version", "1.8-silverback")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	}
	s.Handle("GET", "/ping", ping, RouteOptions{Public: true})
	s.Handle("HEAD", "/ping", ping, RouteOptions{Public: true, Name: "/ping"})
}
