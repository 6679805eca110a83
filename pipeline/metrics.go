package pipeline

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// dbMetrics is the tsdb_* collector of one DB: pipeline counters it owns,
// and per-shard head and WAL counters read from the shards' atomics at
// scrape time (so the hot paths only ever touch their own atomics).
type dbMetrics struct {
	db         *DB
	inboxFull  prometheus.Counter
	overloaded prometheus.Counter
	// unconfirmed counts Appends whose context ended while a shard held
	// their samples (ErrUnconfirmed).
	unconfirmed prometheus.Counter
	// invalidSeries counts samples the router rejected for their series'
	// labels (they never reach a shard).
	invalidSeries prometheus.Counter
	descs         map[string]*prometheus.Desc
}

type shardCounter struct {
	name, help string
	typ        prometheus.ValueType
}

var shardMetricDefs = []shardCounter{
	{"tsdb_head_series", "Active series in the head.", prometheus.GaugeValue},
	{"tsdb_head_mapped_bytes", "Bytes of the head held outside the Go heap (series slabs, open chunk buffers, series hash table); resident once touched.", prometheus.GaugeValue},
	{"tsdb_shard_failed", "1 while the shard refuses appends because its WAL or head chunk files failed (DB.Err says why); a restart rebuilds it from the WAL.", prometheus.GaugeValue},
	{"tsdb_head_series_created_total", "Series created in the head (churn, with _removed_total).", prometheus.CounterValue},
	{"tsdb_head_series_removed_total", "Series removed from the head by garbage collection.", prometheus.CounterValue},
	{"tsdb_head_samples_appended_total", "Samples stored in the head.", prometheus.CounterValue},
	{"tsdb_head_samples_duplicate_total", "Samples equal to the series' last sample (same timestamp and value): accepted as no-ops.", prometheus.CounterValue},
	{"tsdb_head_samples_rejected_total", "Samples rejected, by reason.", prometheus.CounterValue},
	{"tsdb_head_ooo_samples", "Late samples in the out-of-order head, waiting for the next head cut.", prometheus.GaugeValue},
	{"tsdb_head_ooo_samples_appended_total", "Late samples (older than their series' last sample or the head) stored in the out-of-order head.", prometheus.CounterValue},
	{"tsdb_head_ooo_blocks_cut_total", "Blocks written from the out-of-order head (they may overlap others until compacted).", prometheus.CounterValue},
	{"tsdb_head_history_blocks_cut_total", "Blocks written by history cuts: a block range behind the head that gathered HistoryBlockSamples late samples (also in tsdb_head_ooo_blocks_cut_total).", prometheus.CounterValue},
	{"tsdb_head_chunks_cut_total", "Head chunks closed and moved to the mapped head chunk files.", prometheus.CounterValue},
	{"tsdb_wal_replay_samples_total", "Samples replayed from the WAL at open.", prometheus.CounterValue},
	{"tsdb_blocks", "Blocks in the shard.", prometheus.GaugeValue},
	{"tsdb_blocks_cut_total", "Blocks cut from the head.", prometheus.CounterValue},
	{"tsdb_compactions_total", "Compactions completed (each replaces its input blocks with one).", prometheus.CounterValue},
	{"tsdb_blocks_retention_removed_total", "Blocks removed by time or size retention.", prometheus.CounterValue},
	{"tsdb_blocks_quarantined_total", "Blocks moved to quarantine/ because they failed to open.", prometheus.CounterValue},
	{"tsdb_background_errors_total", "Failed background jobs (head cut, compaction); data stays where it was and the job is retried.", prometheus.CounterValue},
	{"tsdb_head_early_cuts_total", "Head cuts triggered by the head memory bound instead of its time span.", prometheus.CounterValue},
	{"tsdb_deletions_total", "Delete requests that wrote head tombstones.", prometheus.CounterValue},
	{"tsdb_head_chunks_rebuilt_total", "Opens that found a damaged head chunk file behind a head snapshot and rebuilt the head from the WAL instead.", prometheus.CounterValue},
	{"tsdb_head_snapshot_loads_total", "Opens that restored the head from a head snapshot (clean shutdown or periodic) and replayed only the WAL after it.", prometheus.CounterValue},
	{"tsdb_head_snapshots_written_total", "Periodic head snapshots written while running (the crash-restart starting point).", prometheus.CounterValue},
	{"tsdb_wal_replay_duration_seconds", "Duration of the last WAL replay.", prometheus.GaugeValue},
	{"tsdb_wal_records_written_total", "WAL records written.", prometheus.CounterValue},
	{"tsdb_wal_bytes_written_total", "WAL bytes written, frame headers included.", prometheus.CounterValue},
	{"tsdb_wal_fsyncs_total", "WAL segment fsyncs.", prometheus.CounterValue},
	{"tsdb_wal_fsync_seconds_total", "Time spent in WAL fsyncs.", prometheus.CounterValue},
	{"tsdb_wal_segments_created_total", "WAL segments created.", prometheus.CounterValue},
	{"tsdb_wal_write_errors_total", "WAL write, fsync or rotation failures.", prometheus.CounterValue},
	{"tsdb_wal_pending_bytes", "Encoded WAL bytes waiting for the flusher.", prometheus.GaugeValue},
	{"tsdb_wal_torn_tails_repaired_total", "Torn WAL tails cut back at open.", prometheus.CounterValue},
	{"tsdb_wal_corrupt_records_skipped_total", "Damaged WAL parts skipped at replay.", prometheus.CounterValue},
	{"tsdb_wal_corrupt_bytes_quarantined_total", "Damaged WAL bytes with good records after them, moved to wal/quarantine/ at replay.", prometheus.CounterValue},
	{"tsdb_wal_segments_missing_total", "WAL segments found missing at replay (a gap, a deleted checkpoint, a lost last segment): their records are lost.", prometheus.CounterValue},
}

func newDBMetrics(db *DB) *dbMetrics {
	m := &dbMetrics{
		db: db,
		inboxFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_append_inbox_full_total", Help: "Appends that found a shard inbox full and had to wait.",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_append_overloaded_total", Help: "Appends that gave up on a full shard inbox (ErrOverloaded).",
		}),
		unconfirmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_append_unconfirmed_total", Help: "Appends whose context ended while a shard held their samples (ErrUnconfirmed: they may be stored).",
		}),
		invalidSeries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsdb_append_samples_rejected_total", Help: "Samples rejected before routing, by reason.",
			ConstLabels: prometheus.Labels{"reason": "invalid_series"},
		}),
		descs: map[string]*prometheus.Desc{},
	}
	for _, d := range shardMetricDefs {
		vars := []string{"shard"}
		if d.name == "tsdb_head_samples_rejected_total" {
			vars = append(vars, "reason")
		}
		m.descs[d.name] = prometheus.NewDesc(d.name, d.help, vars, nil)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *dbMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.inboxFull.Describe(ch)
	m.overloaded.Describe(ch)
	m.unconfirmed.Describe(ch)
	m.invalidSeries.Describe(ch)
	for _, d := range m.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *dbMetrics) Collect(ch chan<- prometheus.Metric) {
	m.inboxFull.Collect(ch)
	m.overloaded.Collect(ch)
	m.unconfirmed.Collect(ch)
	m.invalidSeries.Collect(ch)
	for _, s := range m.db.shards {
		id := strconv.Itoa(s.ID())
		sm, wm := s.Metrics(), s.WALMetrics()
		emit := func(name string, typ prometheus.ValueType, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(m.descs[name], typ, v, append([]string{id}, extra...)...)
		}
		c, g := prometheus.CounterValue, prometheus.GaugeValue
		emit("tsdb_head_series", g, float64(sm.ActiveSeries.Load()))
		emit("tsdb_head_mapped_bytes", g, float64(sm.HeadMappedBytes.Load()))
		failed := 0.0
		if s.Err() != nil {
			failed = 1
		}
		emit("tsdb_shard_failed", g, failed)
		emit("tsdb_head_series_created_total", c, float64(sm.SeriesCreated.Load()))
		emit("tsdb_head_series_removed_total", c, float64(sm.SeriesRemoved.Load()))
		emit("tsdb_head_samples_appended_total", c, float64(sm.SamplesAppended.Load()))
		emit("tsdb_head_samples_duplicate_total", c, float64(sm.SamplesDuplicate.Load()))
		emit("tsdb_head_samples_rejected_total", c, float64(sm.SamplesOutOfOrder.Load()), "out_of_order")
		emit("tsdb_head_samples_rejected_total", c, float64(sm.SamplesConflict.Load()), "duplicate_timestamp")
		emit("tsdb_head_samples_rejected_total", c, float64(sm.SamplesSeriesLimit.Load()), "series_limit")
		emit("tsdb_head_samples_rejected_total", c, float64(sm.SamplesTooOld.Load()), "too_old")
		emit("tsdb_head_samples_rejected_total", c, float64(sm.SamplesTooFarFuture.Load()), "too_far_in_future")
		emit("tsdb_head_samples_rejected_total", c, float64(sm.SamplesOldRetention.Load()), "older_than_retention")
		emit("tsdb_head_ooo_samples", g, float64(sm.OOOSamples.Load()))
		emit("tsdb_head_ooo_samples_appended_total", c, float64(sm.SamplesLate.Load()))
		emit("tsdb_head_ooo_blocks_cut_total", c, float64(sm.OOOBlocksCut.Load()))
		emit("tsdb_head_history_blocks_cut_total", c, float64(sm.HistoryBlocksCut.Load()))
		emit("tsdb_head_chunks_cut_total", c, float64(sm.ChunksCut.Load()))
		emit("tsdb_wal_replay_samples_total", c, float64(sm.ReplayedSamples.Load()))
		emit("tsdb_blocks", g, float64(sm.Blocks.Load()))
		emit("tsdb_blocks_cut_total", c, float64(sm.BlocksCut.Load()))
		emit("tsdb_compactions_total", c, float64(sm.Compactions.Load()))
		emit("tsdb_blocks_retention_removed_total", c, float64(sm.BlocksRetained.Load()))
		emit("tsdb_blocks_quarantined_total", c, float64(sm.BlocksQuarantined.Load()))
		emit("tsdb_background_errors_total", c, float64(sm.BackgroundErrors.Load()))
		emit("tsdb_head_early_cuts_total", c, float64(sm.HeadEarlyCuts.Load()))
		emit("tsdb_deletions_total", c, float64(sm.Deletions.Load()))
		emit("tsdb_head_snapshot_loads_total", c, float64(sm.SnapshotLoads.Load()))
		emit("tsdb_head_snapshots_written_total", c, float64(sm.HeadSnapshotsWritten.Load()))
		emit("tsdb_head_chunks_rebuilt_total", c, float64(sm.HeadChunksRebuilt.Load()))
		emit("tsdb_wal_replay_duration_seconds", g, float64(sm.ReplayDurationNanos.Load())/1e9)
		emit("tsdb_wal_records_written_total", c, float64(wm.RecordsWritten.Load()))
		emit("tsdb_wal_bytes_written_total", c, float64(wm.BytesWritten.Load()))
		emit("tsdb_wal_fsyncs_total", c, float64(wm.Fsyncs.Load()))
		emit("tsdb_wal_fsync_seconds_total", c, float64(wm.FsyncNanos.Load())/1e9)
		emit("tsdb_wal_segments_created_total", c, float64(wm.SegmentsCreated.Load()))
		emit("tsdb_wal_write_errors_total", c, float64(wm.WriteErrors.Load()))
		emit("tsdb_wal_pending_bytes", g, float64(wm.PendingBytes.Load()))
		emit("tsdb_wal_torn_tails_repaired_total", c, float64(wm.TornTailsRepaired.Load()))
		emit("tsdb_wal_corrupt_records_skipped_total", c, float64(wm.CorruptRecordsSkipped.Load()))
		emit("tsdb_wal_corrupt_bytes_quarantined_total", c, float64(wm.CorruptBytesQuarantined.Load()))
		emit("tsdb_wal_segments_missing_total", c, float64(wm.SegmentsMissing.Load()))
	}
}
