package client_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// dashboardCapture turns the shared 10-minute node_exporter capture into
// two scrape targets the way a Prometheus server would have stored them:
// job and instance labels on every series; instance b scraped 3.7 s after
// a, with a gap (its scrapes 15-18 are missing), doubled values, and a
// counter reset at its 30th scrape (every _total series restarts from 0).
func dashboardCapture(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("/work/shared/data/node_exporter_10min.prom")
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	type line struct {
		name, labels, value string
		ts                  int64
	}
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		sp := strings.LastIndexByte(l, ' ')
		vp := strings.LastIndexByte(l[:sp], ' ')
		ts, err := strconv.ParseInt(l[sp+1:], 10, 64)
		require.NoError(t, err, l)
		key := l[:vp]
		name, labels := key, ""
		if i := strings.IndexByte(key, '{'); i >= 0 {
			name, labels = key[:i], key[i+1:len(key)-1]
		}
		lines = append(lines, line{name, labels, l[vp+1 : sp], ts})
	}
	require.NoError(t, sc.Err())
	var stamps []int64
	seen := map[int64]bool{}
	for _, l := range lines {
		if !seen[l.ts] {
			seen[l.ts] = true
			stamps = append(stamps, l.ts)
		}
	}
	sort.Slice(stamps, func(i, j int) bool { return stamps[i] < stamps[j] })
	scrape := map[int64]int{}
	for i, ts := range stamps {
		scrape[ts] = i
	}
	var out bytes.Buffer
	write := func(l line, inst, value string, ts int64) {
		out.WriteString(l.name)
		out.WriteString(`{job="node",instance="` + inst + `"`)
		if l.labels != "" {
			out.WriteString("," + l.labels)
		}
		fmt.Fprintf(&out, "} %s %d\n", value, ts)
	}
	base := map[string]float64{}
	for _, l := range lines {
		write(l, "a:9100", l.value, l.ts)
		n := scrape[l.ts]
		if n >= 15 && n <= 18 {
			continue
		}
		v, err := strconv.ParseFloat(l.value, 64)
		require.NoError(t, err, l.value)
		v *= 2
		if strings.HasSuffix(l.name, "_total") && n >= 30 {
			k := l.name + "{" + l.labels
			if n == 30 {
				base[k] = v
			}
			v -= base[k]
		}
		write(l, "b:9100", strconv.FormatFloat(v, 'g', -1, 64), l.ts+3700)
	}
	return out.Bytes()
}

// dashboardQueries are PromQL expressions in the shapes Grafana panels
// send for node_exporter and Go process dashboards, with the panel
// variables already substituted ($node, $job, $__rate_interval = 1m,
// $__interval = 30s, $__range = 10m). Written for this test.
var dashboardQueries = []string{
	// CPU.
	`100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",instance="a:9100",job="node"}[1m])))`,
	`sum by (mode) (rate(node_cpu_seconds_total{instance="a:9100",job="node"}[1m])) / on() group_left() scalar(count(count by (cpu) (node_cpu_seconds_total{instance="a:9100",job="node"})))`,
	`count(count by (cpu) (node_cpu_seconds_total{job="node"}))`,
	`count without (cpu, mode) (node_cpu_seconds_total{mode="idle"})`,
	`sum by (instance, mode) (irate(node_cpu_seconds_total{mode!="idle"}[1m]))`,
	`avg by (instance) (irate(node_cpu_seconds_total{mode="iowait"}[1m])) * 100`,
	`(1 - avg(irate(node_cpu_seconds_total{mode="idle"}[1m])) by (instance)) * 100`,
	`sum(rate(node_cpu_seconds_total{mode=~"user|system|nice"}[1m])) by (instance) / count(node_cpu_seconds_total{mode="idle"}) by (instance)`,
	`topk(3, sum by (cpu) (rate(node_cpu_seconds_total{mode!="idle"}[1m])))`,
	`rate(node_cpu_guest_seconds_total[1m])`,
	`sum(increase(node_cpu_seconds_total{mode="steal"}[10m])) by (instance)`,
	`node_load1{job="node"} / count without (cpu, mode) (node_cpu_seconds_total{mode="idle",job="node"})`,
	`node_load1`, `node_load5{instance="a:9100"}`, `node_load15 > 0`,
	`max_over_time(node_load1[10m])`, `avg_over_time(node_load5[5m])`,
	`rate(node_context_switches_total[1m])`, `irate(node_intr_total[1m])`,
	`rate(node_forks_total[1m])`, `node_procs_running`, `node_procs_blocked`,
	`rate(node_pressure_cpu_waiting_seconds_total[1m])`,
	`rate(node_pressure_io_stalled_seconds_total[1m]) * 100`,
	`irate(node_pressure_memory_waiting_seconds_total[1m])`,
	// Memory.
	`100 - (node_memory_MemAvailable_bytes{instance="a:9100",job="node"} * 100 / node_memory_MemTotal_bytes{instance="a:9100",job="node"})`,
	`(node_memory_MemTotal_bytes - node_memory_MemFree_bytes - node_memory_Buffers_bytes - node_memory_Cached_bytes - node_memory_SReclaimable_bytes) / node_memory_MemTotal_bytes * 100`,
	`node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes`,
	`(node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes) / (node_memory_SwapTotal_bytes > 0) * 100`,
	`node_memory_Cached_bytes + node_memory_Buffers_bytes`,
	`node_memory_Active_bytes / node_memory_Inactive_bytes`,
	`100 * (1 - ((avg_over_time(node_memory_MemFree_bytes[1m]) + avg_over_time(node_memory_Cached_bytes[1m]) + avg_over_time(node_memory_Buffers_bytes[1m])) / avg_over_time(node_memory_MemTotal_bytes[1m])))`,
	`node_memory_Committed_AS_bytes / node_memory_CommitLimit_bytes`,
	`node_memory_Slab_bytes`, `node_memory_PageTables_bytes`, `node_memory_HugePages_Total`,
	`node_memory_Dirty_bytes + node_memory_Writeback_bytes`,
	`rate(node_vmstat_pgfault[1m])`, `rate(node_vmstat_pgmajfault[1m])`,
	`rate(node_vmstat_pgpgin[1m]) * 1024`, `irate(node_vmstat_pswpout[1m])`,
	`increase(node_vmstat_oom_kill[10m])`,
	`deriv(node_memory_MemFree_bytes[5m])`,
	`predict_linear(node_memory_MemAvailable_bytes[5m], 3600)`,
	`min_over_time(node_memory_MemAvailable_bytes[10m]) / 1024 / 1024`,
	// Disk.
	`rate(node_disk_read_bytes_total{device=~"vda|zram0"}[1m])`,
	`irate(node_disk_written_bytes_total[1m])`,
	`rate(node_disk_reads_completed_total[1m]) + rate(node_disk_writes_completed_total[1m])`,
	`rate(node_disk_io_time_seconds_total[1m]) * 100`,
	`rate(node_disk_io_time_weighted_seconds_total[1m])`,
	`rate(node_disk_read_time_seconds_total[1m]) / rate(node_disk_reads_completed_total[1m])`,
	`rate(node_disk_write_time_seconds_total[1m]) / (rate(node_disk_writes_completed_total[1m]) > 0)`,
	`sum by (instance) (rate(node_disk_written_bytes_total[1m]))`,
	`topk(1, rate(node_disk_io_time_seconds_total[1m]))`,
	`node_disk_io_now`, `rate(node_disk_discards_completed_total[1m])`,
	`rate(node_disk_reads_merged_total[1m])`, `node_disk_info`,
	// Filesystems.
	`100 - ((node_filesystem_avail_bytes{mountpoint="/",fstype!="rootfs"} * 100) / node_filesystem_size_bytes{mountpoint="/",fstype!="rootfs"})`,
	`node_filesystem_size_bytes - node_filesystem_avail_bytes`,
	`1 - node_filesystem_files_free / node_filesystem_files`,
	`node_filesystem_readonly == 1`, `node_filesystem_device_error`,
	`predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}[10m], 86400) < 0`,
	`max by (instance) (1 - node_filesystem_free_bytes / node_filesystem_size_bytes)`,
	`node_filefd_allocated / node_filefd_maximum * 100`,
	// Network.
	`rate(node_network_receive_bytes_total{device!~"lo|veth.*|docker.*|ifb.*"}[1m]) * 8`,
	`irate(node_network_transmit_bytes_total{device!="lo"}[1m]) * 8`,
	`sum by (instance) (rate(node_network_receive_bytes_total[1m]))`,
	`rate(node_network_receive_packets_total[1m])`, `rate(node_network_transmit_packets_total[1m])`,
	`rate(node_network_receive_errs_total[1m]) + rate(node_network_transmit_errs_total[1m])`,
	`rate(node_network_receive_drop_total[1m])`, `irate(node_network_transmit_drop_total[1m])`,
	`rate(node_network_receive_multicast_total[1m])`,
	`node_network_up{device!="lo"}`, `node_network_carrier`, `node_network_mtu_bytes`,
	`node_network_speed_bytes * 8`, `node_network_transmit_queue_length`,
	`changes(node_network_carrier_changes_total[10m])`,
	`max by (device) (rate(node_network_receive_bytes_total[1m]))`,
	`sum without (device) (rate(node_network_transmit_bytes_total{device=~"eth.*"}[1m]))`,
	`node_network_info{operstate="up"}`,
	`rate(node_netstat_Tcp_RetransSegs[1m]) / rate(node_netstat_Tcp_OutSegs[1m]) * 100`,
	`rate(node_netstat_Tcp_InSegs[1m])`, `rate(node_netstat_Tcp_ActiveOpens[1m])`,
	`irate(node_netstat_Tcp_PassiveOpens[1m])`, `node_netstat_Tcp_CurrEstab`,
	`rate(node_netstat_TcpExt_ListenDrops[1m])`, `rate(node_netstat_TcpExt_TCPSynRetrans[1m])`,
	`rate(node_netstat_Udp_InDatagrams[1m])`, `rate(node_netstat_Udp_InErrors[1m])`,
	`rate(node_netstat_IpExt_InOctets[1m]) * 8`, `rate(node_netstat_Icmp_InMsgs[1m])`,
	`node_sockstat_TCP_alloc`, `node_sockstat_TCP_tw`, `node_sockstat_sockets_used`,
	`node_sockstat_TCP_mem_bytes`, `node_sockstat_UDP_inuse`,
	`node_nf_conntrack_entries / node_nf_conntrack_entries_limit`,
	`rate(node_softnet_processed_total[1m])`, `rate(node_softnet_dropped_total[1m])`,
	`sum(rate(node_softnet_times_squeezed_total[1m])) by (instance)`,
	`node_arp_entries`, `node_udp_queues`,
	// System, time, info joins.
	`node_time_seconds - node_boot_time_seconds`,
	`time() - node_boot_time_seconds`,
	`node_timex_offset_seconds`, `node_timex_sync_status`, `node_timex_maxerror_seconds`,
	`node_timex_estimated_error_seconds * 1000`,
	`abs(node_timex_offset_seconds) > 0.005`,
	`node_entropy_available_bits / node_entropy_pool_size_bits`,
	`node_uname_info`, `count by (release) (node_uname_info)`,
	`node_os_info`, `count by (version) (node_exporter_build_info)`,
	`node_load1 * on (instance) group_left (nodename) node_uname_info`,
	`node_memory_MemTotal_bytes * on (instance, job) group_left (machine) node_uname_info`,
	`label_replace(node_load1, "host", "$1", "instance", "(.*):.*")`,
	`label_join(node_uname_info, "id", "/", "instance", "nodename")`,
	`node_scrape_collector_success == 0`,
	`topk(5, node_scrape_collector_duration_seconds)`,
	`sort_desc(node_scrape_collector_duration_seconds{instance="a:9100"})`,
	`sum by (collector) (node_scrape_collector_duration_seconds)`,
	`avg_over_time(node_scrape_collector_duration_seconds{collector="cpu"}[10m])`,
	`quantile_over_time(0.95, node_scrape_collector_duration_seconds{collector="diskstats"}[10m])`,
	`node_textfile_scrape_error`, `node_time_zone_offset_seconds`,
	`node_selinux_enabled`, `node_time_clocksource_current_info`,
	// Stat panels over the dashboard range.
	`avg_over_time(node_load1[10m])`, `max_over_time(node_procs_running[10m])`,
	`increase(node_network_receive_bytes_total{device="eth0"}[10m])`,
	`count_over_time(node_load1[10m])`, `last_over_time(node_memory_MemAvailable_bytes[10m])`,
	`stddev_over_time(node_load1[10m])`, `present_over_time(node_load1[10m])`,
	`resets(node_cpu_seconds_total{mode="idle"}[10m])`,
	`changes(node_procs_running[10m])`,
	// Up/absent style alerts.
	`absent(node_load1{job="node"})`, `absent(node_nothing{job="node"})`,
	`absent_over_time(node_load1[5m])`,
	`count(node_load1) by (job)`, `count(up)`,
	`sum(node_load1) by (job) > 0`,
	`(node_load1 > 0.5) and on (instance) (node_procs_running > 1)`,
	`node_load1 unless on (instance) node_load5 > 10`,
	`node_load5 or on () vector(0)`,
	// Go process dashboards.
	`go_goroutines`, `go_threads`, `go_memstats_heap_inuse_bytes`,
	`rate(go_memstats_alloc_bytes_total[1m])`, `rate(go_memstats_mallocs_total[1m]) - rate(go_memstats_frees_total[1m])`,
	`go_memstats_heap_alloc_bytes / go_memstats_heap_sys_bytes`,
	`go_memstats_next_gc_bytes`, `time() - go_memstats_last_gc_time_seconds`,
	`rate(go_gc_duration_seconds_sum[1m]) / rate(go_gc_duration_seconds_count[1m])`,
	`go_gc_duration_seconds{quantile="1"}`, `max by (quantile) (go_gc_duration_seconds)`,
	`rate(process_cpu_seconds_total[1m]) * 100`, `irate(process_cpu_seconds_total[1m])`,
	`process_resident_memory_bytes`, `process_virtual_memory_bytes / process_virtual_memory_max_bytes`,
	`process_open_fds / process_max_fds`, `time() - process_start_time_seconds`,
	`rate(promhttp_metric_handler_requests_total[1m])`,
	`sum by (code) (rate(promhttp_metric_handler_requests_total[1m]))`,
	`sum(rate(promhttp_metric_handler_requests_total{code=~"5.."}[1m])) / sum(rate(promhttp_metric_handler_requests_total[1m]))`,
	`go_info`, `count by (version) (go_info)`,
	// Aggregations Grafana tables and heatmaps use.
	`sort(sum by (instance) (node_memory_MemTotal_bytes))`,
	`bottomk(2, node_filesystem_avail_bytes)`,
	`quantile(0.5, rate(node_cpu_seconds_total[1m]))`,
	`avg(node_load1)`, `min(node_load1)`, `stddev(node_load1)`, `stdvar(node_memory_MemFree_bytes)`,
	`group by (instance) (node_uname_info)`,
	`count_values("cpus", count by (instance) (node_cpu_seconds_total{mode="idle"}))`,
	`limitk(1, node_network_up)`,
	`sum(rate(node_cpu_seconds_total[1m])) without (cpu)`,
	`sum(rate(node_cpu_seconds_total[1m] offset 1m)) by (mode)`,
	`rate(node_network_receive_bytes_total[1m]) - rate(node_network_receive_bytes_total[1m] offset 2m)`,
	`max(rate(node_cpu_seconds_total[1m])[5m:30s])`,
	`max_over_time(rate(node_cpu_seconds_total{mode="user"}[1m])[5m:15s])`,
	`avg_over_time(sum by (instance) (rate(node_disk_written_bytes_total[1m]))[5m:1m])`,
	`histogram_quantile(0.9, sum by (le) (rate(go_gc_duration_seconds_bucket[1m])))`,
	`clamp_max(node_load1 / 4, 1)`, `clamp_min(node_memory_MemFree_bytes, 0)`,
	`round(node_memory_MemAvailable_bytes / 1024 / 1024)`, `ceil(node_load1)`,
	`sgn(deriv(node_memory_MemFree_bytes[5m]))`,
	`timestamp(node_load1)`, `vector(1) + node_load1 * 0`,
	`scalar(sum(node_load1)) * 2`, `node_load1 / scalar(max(node_load1))`,
	`node_load1 >= bool 0.1`, `node_load1 != 0`,
	`-node_load1 + 1`, `node_memory_MemTotal_bytes % 1000`, `2 ^ node_load1`,
	`irate(node_context_switches_total[5m]) / on (instance) group_left count by (instance) (node_cpu_seconds_total{mode="idle"})`,
	`rate(node_cpu_seconds_total{mode="idle",instance=~"a:9100|b:9100"}[1m])`,
	`sum by (instance) (rate(node_cpu_seconds_total{instance=~".+",mode!~"idle|iowait"}[1m]))`,
	`{__name__=~"node_load.*",job="node"}`,
	`count by (__name__) ({__name__=~"node_memory_.*_bytes",instance="a:9100"})`,
	`sum by (job) (up{job=~"node|prometheus"})`,
	// The same panels with the interval spellings Grafana and users write.
	`rate(node_network_receive_bytes_total{device="eth0"}[1m0s])`,
	`rate(node_network_receive_bytes_total{device="eth0"}[60s])`,
	`rate(node_network_receive_bytes_total{device="eth0"}[90s])`,
	`increase(node_network_transmit_bytes_total{device="eth0"}[2m30s])`,
	`irate(node_cpu_seconds_total{cpu="0"}[45s])`,
	`rate(node_cpu_seconds_total{cpu="1",mode="user"}[5m] @ 1795476000)`,
	`rate(node_cpu_seconds_total{cpu="1",mode="user"}[5m] @ end())`,
	`sum(rate(node_cpu_seconds_total{mode="user"}[1m] offset 30s))`,
	`delta(node_memory_MemFree_bytes[2m])`, `idelta(node_memory_MemFree_bytes[2m])`,
	`holt_winters(node_load1[5m], 0.5, 0.5)`,
	`double_exponential_smoothing(node_load1[5m], 0.5, 0.5)`,
	`rate(node_load1[1m])`,
	`sum_over_time(node_procs_running[1m]) / count_over_time(node_procs_running[1m])`,
	`mad_over_time(node_load1[5m])`, `quantile_over_time(0.5, node_load5[3m])`,
	`ts_of_max_over_time(node_load1[5m])`, `ts_of_min_over_time(node_load1[5m])`,
	`sort_by_label(node_network_up, "device")`,
	`sum by (instance) (node_filesystem_size_bytes{fstype=~"ext4|xfs"})`,
	`sum by (device) (rate(node_disk_read_bytes_total[1m])) + on (device) sum by (device) (rate(node_disk_written_bytes_total[1m]))`,
	`rate(node_network_receive_bytes_total[1m]) > bool rate(node_network_transmit_bytes_total[1m])`,
	`node_network_receive_bytes_total - ignoring (device) group_left sum without (device) (node_network_receive_bytes_total)`,
	`100 * sum without (cpu) (rate(node_cpu_seconds_total{mode="idle"}[1m])) / ignoring (mode) group_left sum without (cpu, mode) (rate(node_cpu_seconds_total[1m]))`,
	`topk by (instance) (2, rate(node_network_receive_bytes_total[1m]))`,
	`bottomk by (mode) (1, rate(node_cpu_seconds_total[1m]))`,
	`quantile by (mode) (0.9, rate(node_cpu_seconds_total[1m]))`,
	`limit_ratio(0.5, node_cpu_seconds_total{mode="idle"})`,
	`absent(sum(node_load1))`, `vector(time())`, `scalar(node_load1)`,
	`minute(node_boot_time_seconds)`, `hour()`, `day_of_month()`, `day_of_year()`,
}

// TestPrometheus3_CompareDashboards runs dashboardQueries, each as an
// instant query at the end of the capture and as a range query at two
// Grafana-like steps, on us and on Prometheus 3.16 over the same samples,
// and requires the same answer (status, error type, warnings present,
// data compared as JSON: the same series, timestamps and value strings).
func TestPrometheus3_CompareDashboards(t *testing.T) {
	prom := prometheus3()
	if prom == "" {
		t.Skip("Prometheus 3 is not installed (go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0, or set TSDB_PROMETHEUS3)")
	}
	raw := dashboardCapture(t)
	ts := newTestServer(t, httpfast.Options{})
	pbase := startPrometheus(t, prom)
	loadBothRaw(t, newClient(t, ts.addr, client.Options{}), pbase, raw)

	// The capture spans 1795475719.404 .. ~1795476308 (+3.7 s for b).
	// First from our head, then again after the head is persisted into
	// a block (the long-term encodings' read path).
	compareDashboards(t, ts.addr, pbase, "head", true, 0)
	// A dashboard refreshing: the same range queries again, moved on by
	// 30 s and 60 s (multiples of both steps, so that the cache can use
	// what it holds), through our range query result cache.
	compareDashboards(t, ts.addr, pbase, "head, cached", false, 30)
	compareDashboards(t, ts.addr, pbase, "head, cached", false, 60)
	require.NoError(t, ts.db.Compact(context.Background(), true))
	st, err := ts.db.HeadStats(context.Background())
	require.NoError(t, err)
	var persisted uint64
	for _, sh := range st.Shards {
		for _, b := range sh.Blocks {
			persisted += b.Stats.NumSamples
		}
	}
	require.Equal(t, uint64(bytes.Count(raw, []byte("\n"))), persisted, "the head cut did not persist every sample into blocks")
	compareDashboards(t, ts.addr, pbase, "blocks", true, 0)
	compareDashboards(t, ts.addr, pbase, "blocks, cached", false, 90)
}

// compareDashboards runs every dashboard query on both servers: with
// nocache, our result cache is bypassed (nocache=1; Prometheus ignores the
// parameter); shift moves the range queries' start and end by seconds.
func compareDashboards(t *testing.T, ours, prom, phase string, nocache bool, shift int64) {
	t.Helper()
	at := func(s int64) string { return strconv.FormatInt(s+shift, 10) }
	type run struct {
		path   string
		params []string
	}
	var checks, nonEmpty, mismatches int
	for _, q := range dashboardQueries {
		runs := []run{
			{"/api/v1/query_range", []string{"query", q, "start", at(1795475730), "end", at(1795476300), "step", "30"}},
			{"/api/v1/query_range", []string{"query", q, "start", at(1795475700), "end", at(1795476315), "step", "15"}},
		}
		if shift == 0 {
			runs = append(runs,
				run{"/api/v1/query", []string{"query", q, "time", "1795476315"}},
				run{"/api/v1/query", []string{"query", q, "time", "1795476000.5"}})
		}
		for _, r := range runs {
			checks++
			if nocache {
				r.params = append(r.params, "nocache", "1")
			}
			v := vals(r.params...)
			a, b := ask(t, ours, "GET", r.path, v), ask(t, prom, "GET", r.path, v)
			var probs []string
			if a.code != b.code {
				probs = append(probs, fmt.Sprintf("status %d, Prometheus %d", a.code, b.code))
			}
			for _, k := range []string{"status", "errorType", "warnings", "infos", "data"} {
				if k == "warnings" || k == "infos" {
					// Prometheus keeps annotations in a map: their order
					// in the answer is not defined.
					sortStrings(a.env[k])
					sortStrings(b.env[k])
				}
				if !reflect.DeepEqual(a.env[k], b.env[k]) {
					probs = append(probs, k+" differs")
				}
			}
			if d, ok := b.env["data"].(map[string]any); ok {
				if res, ok := d["result"].([]any); ok && len(res) > 0 {
					nonEmpty++
				}
			}
			if len(probs) > 0 {
				mismatches++
				t.Errorf("%s: %s?%s: %s\n  ours:       %.800s\n  Prometheus: %.800s", phase, r.path, v.Encode(), strings.Join(probs, "; "), a.raw, b.raw)
			}
		}
	}
	t.Logf("%s: %d queries, %d checks (%d with a non-empty result from Prometheus), %d mismatches", phase, len(dashboardQueries), checks, nonEmpty, mismatches)
	// A corpus that mostly returns nothing would prove little.
	require.Greater(t, nonEmpty, checks*3/4, "too few checks returned data: is the capture loaded?")
}

// sortStrings sorts a decoded JSON array of strings in place.
func sortStrings(v any) {
	if a, ok := v.([]any); ok {
		sort.Slice(a, func(i, j int) bool { return fmt.Sprint(a[i]) < fmt.Sprint(a[j]) })
	}
}
