package main

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

// diskUsageCollector reports the bytes of the data directory at each
// scrape, by kind: the part of each shard directory (blocks, wal,
// chunks_head) or "other" for everything else. It walks the directory on
// every Collect: a few thousand files at most for a normal database, once
// per scrape.
type diskUsageCollector struct {
	dir  string
	desc *prometheus.Desc
}

func newDiskUsageCollector(dir string) *diskUsageCollector {
	return &diskUsageCollector{dir: dir, desc: prometheus.NewDesc("tsdb_storage_bytes",
		"Disk space (allocated blocks) of the files in the data directory by kind (blocks, wal, chunks_head, other), measured at scrape.",
		[]string{"kind"}, nil)}
}

func (c *diskUsageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *diskUsageCollector) Collect(ch chan<- prometheus.Metric) {
	for kind, n := range diskUsage(c.dir) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), kind)
	}
}

// diskUsage sums the allocated sizes of the regular files under dir by
// kind. Files
// that vanish during the walk (compaction, WAL truncation) are skipped.
func diskUsage(dir string) map[string]int64 {
	out := map[string]int64{"blocks": 0, "wal": 0, "chunks_head": 0, "other": 0}
	shards := filepath.Join(dir, "shards")
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		kind := "other"
		if rel, err := filepath.Rel(shards, p); err == nil {
			// shards/NN/<kind>/...
			parts := splitPath(rel)
			if len(parts) >= 3 {
				if _, ok := out[parts[1]]; ok && parts[1] != "other" {
					kind = parts[1]
				}
			}
		}
		out[kind] += allocatedBytes(info)
		return nil
	})
	return out
}

func splitPath(p string) []string {
	var parts []string
	for p != "" && p != "." && p != string(os.PathSeparator) {
		dir, file := filepath.Split(p)
		parts = append([]string{file}, parts...)
		p = filepath.Clean(dir)
		if dir == "" {
			break
		}
	}
	return parts
}

// registerConfigGauges exposes the bounds alerts compare against:
// --storage.max-active-series and --retention-size (0: unbounded).
func registerConfigGauges(reg prometheus.Registerer, maxActiveSeries int, retentionBytes int64) error {
	for _, g := range []struct {
		name, help string
		v          float64
	}{
		{"tsdb_config_max_active_series", "The --storage.max-active-series bound (0: unlimited).", float64(maxActiveSeries)},
		{"tsdb_config_retention_bytes", "The --retention-size bound in bytes (0: unbounded).", float64(retentionBytes)},
	} {
		v := g.v
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help}, func() float64 { return v })); err != nil {
			return err
		}
	}
	return nil
}
