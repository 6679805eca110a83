package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/silverback-tsdb/tsdb/walseg"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "0", want: 0},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "2h", want: 2 * time.Hour},
		{in: "1w", want: 7 * 24 * time.Hour},
		{in: "1y", want: 365 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: " 10s ", want: 10 * time.Second},
		{in: "", err: true},
		{in: "30", err: true},
		{in: "-1d", err: true},
		{in: "1.5h", err: true},
		{in: "2x", err: true},
		{in: "h", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDuration(tc.in)
			if tc.err {
				require.ErrorIs(t, err, errFlag)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "0", want: 0},
		{in: "123", want: 123},
		{in: "123B", want: 123},
		{in: "1KB", want: 1 << 10},
		{in: "1k", want: 1 << 10},
		{in: "512MiB", want: 512 << 20},
		{in: "512MB", want: 512 << 20},
		{in: "50GB", want: 50 << 30},
		{in: "50gb", want: 50 << 30},
		{in: "50 GiB", want: 50 << 30},
		{in: "1.5GB", want: 3 << 29},
		{in: "2TB", want: 2 << 40},
		{in: "1PB", want: 1 << 50},
		{in: "7EB", want: 7 << 60},
		{in: "8EB", err: true},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "9223372036854775808", err: true},
		{in: "8.5EB", err: true},
		{in: "", err: true},
		{in: "GB", err: true},
		{in: "-1GB", err: true},
		{in: "1XB", err: true},
		{in: "1..5GB", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if tc.err {
				require.ErrorIs(t, err, errFlag)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 29: "1.5 GiB", math.MaxInt64: "8.0 EiB"} {
		require.Equal(t, want, formatSize(in), in)
	}
}

func TestParseSyncMode(t *testing.T) {
	for in, want := range map[string]walseg.SyncMode{"batch": walseg.SyncBatch, "always": walseg.SyncAlways, "none": walseg.SyncNone} {
		got, err := parseSyncMode(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"", "Always", "fsync"} {
		_, err := parseSyncMode(in)
		require.ErrorIs(t, err, errFlag, in)
	}
}

func TestParseLogLevel(t *testing.T) {
	got, err := parseLogLevel("warn")
	require.NoError(t, err)
	require.Equal(t, zapcore.WarnLevel, got)
	for _, in := range []string{"", "fatal", "INFO", "trace"} {
		_, err := parseLogLevel(in)
		require.ErrorIs(t, err, errFlag, in)
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "2026-01-02T15:04:05Z", want: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli()},
		{in: "2026-01-02T15:04:05.123+01:00", want: time.Date(2026, 1, 2, 14, 4, 5, 123e6, time.UTC).UnixMilli()},
		{in: "1767366245", want: 1767366245000},
		{in: "1767366245.5", want: 1767366245500},
		{in: "0", want: 0},
		{in: "-1.25", want: -1250},
		{in: "", err: true},
		{in: "yesterday", err: true},
		{in: "NaN", err: true},
		{in: "Inf", err: true},
		{in: "1e300", err: true},
		{in: "2026-01-02", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseTime(tc.in)
			if tc.err {
				require.ErrorIs(t, err, errFlag)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[int64]string{0: "0s", 10_000: "10s", 2 * 3600_000: "2h", 36 * 3600_000: "1d12h", 7 * 86400_000: "1w", 500: "500ms"} {
		require.Equal(t, want, formatDuration(in), in)
	}
}

func TestApplyEnvAndConfig(t *testing.T) {
	newFlags := func() (*pflag.FlagSet, *string, *string, *int, *bool) {
		fs := pflag.NewFlagSet("start", pflag.ContinueOnError)
		dir := fs.String("data-dir", "./data", "")
		lvl := fs.String("log.level", "info", "")
		n := fs.Int("shards", 0, "")
		admin := fs.Bool("web.enable-admin-api", false, "")
		fs.String("config.file", "", "")
		return fs, dir, lvl, n, admin
	}
	cfg := filepath.Join(t.TempDir(), "tsdb.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("data-dir: /from/config\nlog.level: debug\nshards: 4\nweb.enable-admin-api: true\n"), 0o600))
	env := map[string]string{"TSDB_LOG_LEVEL": "warn"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs, dir, lvl, n, admin := newFlags()
	require.NoError(t, fs.Parse([]string{"--data-dir=/from/flag"}))
	require.NoError(t, applyEnvAndConfig(fs, cfg, lookup))
	require.Equal(t, "/from/flag", *dir, "flag beats environment and config")
	require.Equal(t, "warn", *lvl, "environment beats config")
	require.Equal(t, 4, *n, "config beats default")
	require.True(t, *admin)

	fs, _, _, _, _ = newFlags()
	require.NoError(t, fs.Parse(nil))
	env["TSDB_SHARDS"] = "many"
	err := applyEnvAndConfig(fs, "", lookup)
	require.ErrorIs(t, err, errConfig)
	require.ErrorContains(t, err, "TSDB_SHARDS")
	delete(env, "TSDB_SHARDS")

	bad := filepath.Join(t.TempDir(), "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("data-dri: x\n"), 0o600))
	fs, _, _, _, _ = newFlags()
	require.NoError(t, fs.Parse(nil))
	err = applyEnvAndConfig(fs, bad, lookup)
	require.ErrorIs(t, err, errConfig)
	require.ErrorContains(t, err, `unknown key "data-dri"`)

	require.NoError(t, os.WriteFile(bad, []byte("shards: [1, 2]\n"), 0o600))
	fs, _, _, _, _ = newFlags()
	require.NoError(t, fs.Parse(nil))
	require.ErrorContains(t, applyEnvAndConfig(fs, bad, lookup), `key "shards": want a scalar`)
	require.Equal(t, "TSDB_WEB_ENABLE_ADMIN_API", envName("web.enable-admin-api"))
}

func TestStartCmd_BadFlagsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"start", "--log.format=xml"}, "--log.format"},
		{[]string{"start", "--retention=forever"}, "--retention"},
		{[]string{"start", "--ingest.max-future=soon"}, "--ingest.max-future"},
		{[]string{"start", "--ingest.max-future=-1h"}, "--ingest.max-future"},
		{[]string{"start", "--ingest.max-body-size=lots"}, "--ingest.max-body-size"},
		{[]string{"start", "--influx.db-label=1db"}, "--influx.db-label"},
		{[]string{"start", "--web.config.file=/nonexistent/web.yml"}, "--web.config.file"},
	} {
		var out, errOut bytes.Buffer
		cmd := newRootCmd(&out, &errOut)
		cmd.SetArgs(append(tc.args, "--data-dir="+t.TempDir(), "--listen=127.0.0.1:0"))
		err := cmd.Execute()
		require.Error(t, err, tc.args)
		require.ErrorContains(t, err, tc.want)
	}
}
