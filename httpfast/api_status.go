package httpfast

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/valyala/fasthttp"
)

// BuildInfo is what /api/v1/status/buildinfo answers (Prometheus's keys).
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// StatusInfo is what the status endpoints report besides the database:
// set by cmd/tsdb in the QueryBackend.
type StatusInfo struct {
	Build BuildInfo
	// Flags are the command-line flags with their effective values.
	Flags map[string]string
	// ConfigYAML is the configuration as YAML (/status/config).
	ConfigYAML string
	// StartTime is when the process started.
	StartTime time.Time
	// Retention describes the retention settings ("30d", "unlimited").
	Retention string
}

func defaultBuildInfo() BuildInfo {
	bi := BuildInfo{Version: "(devel)", GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" {
			bi.Version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				bi.Revision = s.Value
			case "vcs.time":
				bi.BuildDate = s.Value
			}
		}
	}
	return bi
}

func apiBuildInfo(_ *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	bi := qb.Status.Build
	if bi.Version == "" {
		bi = defaultBuildInfo()
	}
	return apiResult{data: bi}
}

func apiFlags(_ *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	f := qb.Status.Flags
	if f == nil {
		f = map[string]string{}
	}
	return apiResult{data: f}
}

func apiConfig(_ *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	return apiResult{data: struct {
		YAML string `json:"yaml"`
	}{qb.Status.ConfigYAML}}
}

// runtimeInfo has the keys of Prometheus's /status/runtimeinfo.
type runtimeInfo struct {
	StartTime           time.Time `json:"startTime"`
	CWD                 string    `json:"CWD"`
	Hostname            string    `json:"hostname"`
	ServerTime          time.Time `json:"serverTime"`
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	CorruptionCount     int64     `json:"corruptionCount"`
	GoroutineCount      int       `json:"goroutineCount"`
	GOMAXPROCS          int       `json:"GOMAXPROCS"`
	GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
	GOGC                string    `json:"GOGC"`
	GODEBUG             string    `json:"GODEBUG"`
	StorageRetention    string    `json:"storageRetention"`
}

func apiRuntimeInfo(_ *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	ret := qb.Status.Retention
	if ret == "" {
		ret = "unlimited"
	}
	return apiResult{data: runtimeInfo{
		StartTime:           qb.Status.StartTime.UTC(),
		CWD:                 cwd,
		Hostname:            host,
		ServerTime:          time.Now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      qb.Status.StartTime.UTC(),
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
		StorageRetention:    ret,
	}}
}

// apiWALReplay answers /status/walreplay: the WAL is replayed before the
// query API answers at all (apiHandler answers 503 until then), so once
// it answers the replay is complete.
func apiWALReplay(_ *fasthttp.RequestCtx, _ *QueryBackend) apiResult {
	return apiResult{data: struct {
		Min     int `json:"min"`
		Max     int `json:"max"`
		Current int `json:"current"`
	}{}}
}

// tsdbStat is one row of a cardinality table.
type tsdbStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

type tsdbHeadStats struct {
	NumSeries     uint64 `json:"numSeries"`
	NumLabelPairs int    `json:"numLabelPairs"`
	ChunkCount    int64  `json:"chunkCount"`
	MinTime       int64  `json:"minTime"`
	MaxTime       int64  `json:"maxTime"`
}

type tsdbShardStats struct {
	ID        int   `json:"id"`
	NumSeries int   `json:"numSeries"`
	MinTime   int64 `json:"minTime"`
	MaxTime   int64 `json:"maxTime"`
	Blocks    int   `json:"blocks"`
	// BlockSamples and BlockSeries sum the blocks' meta.json stats.
	BlockSamples uint64 `json:"blockSamples"`
	BlockSeries  uint64 `json:"blockSeries"`
}

type tsdbStatus struct {
	HeadStats                   tsdbHeadStats `json:"headStats"`
	SeriesCountByMetricName     []tsdbStat    `json:"seriesCountByMetricName"`
	LabelValueCountByLabelName  []tsdbStat    `json:"labelValueCountByLabelName"`
	MemoryInBytesByLabelName    []tsdbStat    `json:"memoryInBytesByLabelName"`
	SeriesCountByLabelValuePair []tsdbStat    `json:"seriesCountByLabelValuePair"`
	// Shards is Silverback's own addition: per shard head and block
	// figures.
	Shards []tsdbShardStats `json:"shards"`
}

// apiTSDBStatus answers /api/v1/status/tsdb with Prometheus's keys: head
// stats and the top-limit (default 10) cardinality tables over the heads.
// chunkCount is Prometheus's "unknown" (int64 of NaN): the heads do not
// count their chunks.
func apiTSDBStatus(ctx *fasthttp.RequestCtx, qb *QueryBackend) apiResult {
	const maxLimit = 10000
	limit := 10
	if s := formValue(ctx, "limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return apiResult{err: badData(errors.New("limit must be a positive number"))}
		}
		if n > maxLimit {
			return apiResult{err: badData(fmt.Errorf("limit must not exceed %d", maxLimit))}
		}
		limit = n
	}
	rctx, cancel := requestContext(0)
	defer cancel()
	hs, err := qb.DB.HeadStats(rctx)
	if err != nil {
		return apiResult{err: &apiError{typ: errorInternal, err: err}}
	}
	var metrics, pairs, names, mem []tsdbStat
	for i := 0; i < len(hs.Pairs); {
		name := hs.Pairs[i].Name
		var values int
		var bytes uint64
		for ; i < len(hs.Pairs) && hs.Pairs[i].Name == name; i++ {
			p := hs.Pairs[i]
			values++
			bytes += labels.SizeOfLabels(p.Name, p.Value, p.Count)
			pairs = append(pairs, tsdbStat{Name: p.Name + "=" + p.Value, Value: p.Count})
			if name == model.MetricNameLabel {
				metrics = append(metrics, tsdbStat{Name: p.Value, Value: p.Count})
			}
		}
		names = append(names, tsdbStat{Name: name, Value: uint64(values)})
		mem = append(mem, tsdbStat{Name: name, Value: bytes})
	}
	st := tsdbStatus{
		HeadStats: tsdbHeadStats{
			NumSeries:     uint64(hs.NumSeries),
			NumLabelPairs: len(hs.Pairs),
			ChunkCount:    math.MinInt64,
			MinTime:       hs.MinTime,
			MaxTime:       hs.MaxTime,
		},
		SeriesCountByMetricName:     topStats(metrics, limit),
		LabelValueCountByLabelName:  topStats(names, limit),
		MemoryInBytesByLabelName:    topStats(mem, limit),
		SeriesCountByLabelValuePair: topStats(pairs, limit),
	}
	if hs.NumSeries == 0 {
		// Prometheus's empty head reports these bounds.
		st.HeadStats.MinTime, st.HeadStats.MaxTime = math.MaxInt64, math.MinInt64
	}
	for _, s := range hs.Shards {
		ss := tsdbShardStats{ID: s.ID, NumSeries: s.NumSeries, MinTime: s.MinTime, MaxTime: s.MaxTime, Blocks: len(s.Blocks)}
		for _, b := range s.Blocks {
			ss.BlockSamples += b.Stats.NumSamples
			ss.BlockSeries += b.Stats.NumSeries
		}
		st.Shards = append(st.Shards, ss)
	}
	return apiResult{data: st}
}

// topStats sorts by value, most first (ties by name), and keeps n.
func topStats(s []tsdbStat, n int) []tsdbStat {
	slices.SortFunc(s, func(a, b tsdbStat) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if s == nil {
		s = []tsdbStat{}
	}
	return s[:min(n, len(s))]
}

// metadataEntry is one metric's metadata as Prometheus lists it.
type metadataEntry struct {
	Type string `json:"type"`
	Unit string `json:"unit"`
	Help string `json:"help"`
}

// apiMetadata answers /api/v1/metadata from the metadata remote write,
// OTLP and text exposition brought (MetadataStore): one entry per name.
func (s *Server) apiMetadata(ctx *fasthttp.RequestCtx, _ *QueryBackend) apiResult {
	limit := -1
	if v := formValue(ctx, "limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return apiResult{err: badData(errors.New("limit must be a number"))}
		}
		limit = n
	}
	if v := formValue(ctx, "limit_per_metric"); v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			return apiResult{err: badData(errors.New("limit_per_metric must be a number"))}
		}
	}
	out := map[string][]metadataEntry{}
	store := s.opts.Metadata
	if metric := formValue(ctx, "metric"); metric != "" {
		if md, ok := store.Get(metric); ok && limit != 0 {
			out[metric] = []metadataEntry{{Type: cmp.Or(md.Type, "unknown"), Unit: md.Unit, Help: md.Help}}
		}
		return apiResult{data: out}
	}
	for _, name := range store.Names() {
		if limit >= 0 && len(out) >= limit {
			break
		}
		md, _ := store.Get(name)
		out[name] = []metadataEntry{{Type: cmp.Or(md.Type, "unknown"), Unit: md.Unit, Help: md.Help}}
	}
	return apiResult{data: out}
}

// Empty answers of the endpoints of what Silverback does not do (scrape
// targets, rules, alerts, exemplars), in the shapes Grafana expects.

func apiTargets(*fasthttp.RequestCtx, *QueryBackend) apiResult {
	return apiResult{data: rawJSON(`{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}`)}
}

func apiRules(*fasthttp.RequestCtx, *QueryBackend) apiResult {
	return apiResult{data: rawJSON(`{"groups":[]}`)}
}

func apiAlerts(*fasthttp.RequestCtx, *QueryBackend) apiResult {
	return apiResult{data: rawJSON(`{"alerts":[]}`)}
}

func apiExemplars(ctx *fasthttp.RequestCtx, _ *QueryBackend) apiResult {
	mint, maxt, e := timeRange(ctx)
	if e != nil {
		return apiResult{err: e}
	}
	if maxt < mint {
		return apiResult{err: badData(errors.New("end timestamp must not be before start timestamp"))}
	}
	if _, err := promParser.ParseExpr(formValue(ctx, "query")); err != nil {
		return apiResult{err: badData(err)}
	}
	return apiResult{data: rawJSON(`[]`)}
}

// apiFormatQuery answers /api/v1/format_query: the expression pretty
// printed.
func apiFormatQuery(ctx *fasthttp.RequestCtx, _ *QueryBackend) apiResult {
	expr, err := promParser.ParseExpr(formValue(ctx, "query"))
	if err != nil {
		return apiResult{err: invalidParam(err, "query")}
	}
	return apiResult{data: expr.Pretty(0)}
}
