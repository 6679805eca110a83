package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.uber.org/zap/zapcore"

	"github.com/silverback-tsdb/tsdb/walseg"
)

// errFlag marks an invalid flag value; the message names the value.
var errFlag = errors.New("invalid flag value")

// parseDuration parses a Prometheus-style duration: one or more
// <integer><unit> terms, units y (365d), w, d, h, m, s, ms, largest first
// ("30d", "2h", "1w", "1d12h"), or "0". Negative or fractional values are
// refused.
func parseDuration(s string) (time.Duration, error) {
	d, err := model.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%w: duration %q: %w", errFlag, s, err)
	}
	return time.Duration(d), nil
}

// sizeUnits are the size suffixes parseSize accepts, upper-cased. As in
// Prometheus's --storage.tsdb.retention.size, KB, MB, ... are powers of
// two (1KB = 1024 B), and the IEC spellings KiB, MiB, ... mean the same.
var sizeUnits = map[string]uint{
	"": 0, "B": 0,
	"K": 10, "KB": 10, "KIB": 10,
	"M": 20, "MB": 20, "MIB": 20,
	"G": 30, "GB": 30, "GIB": 30,
	"T": 40, "TB": 40, "TIB": 40,
	"P": 50, "PB": 50, "PIB": 50,
	"E": 60, "EB": 60, "EIB": 60,
}

// parseSize parses a byte size: a non-negative decimal number followed by
// an optional unit (B, KB, MB, GB, TB, PB, EB, each also as K/KiB, M/MiB,
// ...; case-insensitive; binary multiples). A fractional result is
// truncated to whole bytes. "0" means no limit to the callers.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%w: size %q: no number", errFlag, s)
	}
	shift, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%w: size %q: unknown unit %q (want B, KB, MB, GB, TB, PB or EB)", errFlag, s, t[i:])
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > math.MaxInt64>>shift {
			return 0, fmt.Errorf("%w: size %q: out of range", errFlag, s)
		}
		return int64(n << shift), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: size %q: %w", errFlag, s, err)
	}
	v := f * float64(uint64(1)<<shift)
	// 2^63 is the first float64 above MaxInt64.
	if v >= math.Exp2(63) {
		return 0, fmt.Errorf("%w: size %q: out of range", errFlag, s)
	}
	return int64(v), nil
}

// formatSize renders n bytes with a binary unit and at most one decimal.
func formatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, u := float64(n), -1
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[u:u+1] + "iB"
}

// parseSyncMode parses the --wal-sync values "batch", "always", "none".
func parseSyncMode(s string) (walseg.SyncMode, error) {
	for _, m := range []walseg.SyncMode{walseg.SyncBatch, walseg.SyncAlways, walseg.SyncNone} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: wal sync mode %q (want batch, always or none)", errFlag, s)
}

// parseLogLevel parses debug, info, warn or error.
func parseLogLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug", "info", "warn", "error":
		l, err := zapcore.ParseLevel(s)
		if err != nil {
			return 0, fmt.Errorf("%w: log level %q: %w", errFlag, s, err)
		}
		return l, nil
	}
	return 0, fmt.Errorf("%w: log level %q (want debug, info, warn or error)", errFlag, s)
}

// parseTime parses a time bound of `tsdb delete`: RFC 3339
// ("2026-01-02T15:04:05Z", fractional seconds allowed) or Unix seconds
// with an optional fraction ("1767366245.5"), as the Prometheus HTTP API
// accepts. The result is in milliseconds.
func parseTime(s string) (int64, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt64/1000/2 {
		return 0, fmt.Errorf("%w: time %q (want RFC 3339 or Unix seconds)", errFlag, s)
	}
	return int64(math.Round(f * 1000)), nil
}

// formatTime renders a millisecond timestamp as RFC 3339 in UTC.
func formatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// formatDuration renders a span of milliseconds in Prometheus style
// ("2h", "1d12h", "1w", "10s", "500ms").
func formatDuration(ms int64) string {
	if ms <= 0 {
		return "0s"
	}
	return model.Duration(time.Duration(ms) * time.Millisecond).String()
}
