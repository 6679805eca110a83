package httpfast

import (
	"bytes"
	"sort"
	"sync"
)

// Metadata is what is known about a metric name: its type, unit and help
// text, from remote-write metadata, OTLP or text exposition # TYPE/# HELP.
type Metadata struct {
	Type string // counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown
	Unit string
	Help string
}

// MetricType names of remote write's MetricMetadata.MetricType (1.0) and
// Metadata.MetricType (2.0), which share their numbers.
var metricTypeNames = [...]string{"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"}

func metricTypeName(t uint64) string {
	if t < uint64(len(metricTypeNames)) {
		return metricTypeNames[t]
	}
	return "unknown"
}

// DefaultMaxMetadata bounds the metric names a MetadataStore keeps.
const DefaultMaxMetadata = 100_000

// MetadataStore keeps the latest metadata per metric name, in memory (it
// is rebuilt from what clients send after a restart: Prometheus resends
// metadata every minute). Bounded: once full, new names are not kept.
// Safe for concurrent use; Set on an unchanged entry takes only a read
// lock and allocates nothing.
type MetadataStore struct {
	max int
	mu  sync.RWMutex
	m   map[string]Metadata // guarded by mu
}

// NewMetadataStore returns a store keeping at most max names.
func NewMetadataStore(max int) *MetadataStore {
	return &MetadataStore{max: max, m: map[string]Metadata{}}
}

// set records metadata for name; empty fields keep what is known.
func (ms *MetadataStore) set(name []byte, typ string, unit, help []byte) {
	if len(name) == 0 {
		return
	}
	ms.mu.RLock()
	old, ok := ms.m[string(name)]
	ms.mu.RUnlock()
	if ok && (typ == "" || old.Type == typ) && (len(unit) == 0 || old.Unit == string(unit)) && (len(help) == 0 || old.Help == string(help)) {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	old, ok = ms.m[string(name)]
	if !ok && len(ms.m) >= ms.max {
		return
	}
	if typ != "" {
		old.Type = typ
	}
	if len(unit) > 0 {
		old.Unit = string(bytes.Clone(unit))
	}
	if len(help) > 0 {
		old.Help = string(bytes.Clone(help))
	}
	ms.m[string(name)] = old
}

// Get returns the metadata of a metric name.
func (ms *MetadataStore) Get(name string) (Metadata, bool) {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	md, ok := ms.m[name]
	return md, ok
}

// Names returns the known metric names, sorted.
func (ms *MetadataStore) Names() []string {
	ms.mu.RLock()
	out := make([]string, 0, len(ms.m))
	for k := range ms.m {
		out = append(out, k)
	}
	ms.mu.RUnlock()
	sort.Strings(out)
	return out
}
