package httpfast

import "github.com/valyala/fasthttp"

type otlpScratch struct{}

func (s *Server) handleOTLP(ctx *fasthttp.RequestCtx) {
	ctx.Error("not implemented", fasthttp.StatusNotImplemented)
}
