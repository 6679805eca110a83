package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// buildHeadDB creates a database whose data is all in the head (WAL).
func buildHeadDB(t testing.TB, n, secs int) (string, map[string][]sample) {
	t.Helper()
	dir := t.TempDir()
	o := testOptions(t)
	o.BlockRange = time.Hour // nothing is cut while appending
	db, err := pipeline.Open(dir, o)
	require.NoError(t, err)
	want := map[string][]sample{}
	appendSeconds(t, db, n, 0, secs, want)
	require.NoError(t, db.Close())
	return dir, want
}

func TestCompact(t *testing.T) {
	dir, want := buildHeadDB(t, 3, 50)
	ctx := context.Background()
	o := adminOptions{DataDir: dir, Logger: zaptest.NewLogger(t)}

	var out bytes.Buffer
	require.NoError(t, runCompact(ctx, &out, o, false))
	require.Contains(t, out.String(), "0 blocks before, 0 after", "nothing is due without --head")
	out.Reset()
	require.NoError(t, runCompact(ctx, &out, o, true))
	require.Regexp(t, `0 blocks before, [1-9]\d* after`, out.String())
	n, err := countBlocks(dir)
	require.NoError(t, err)
	require.Positive(t, n)
	require.Equal(t, want, readAll(t, dir))

	out.Reset()
	require.NoError(t, runInspect(&out, dir, inspectOptions{Verify: true}))
}

func TestAdmin_RefusesMissingOrLockedDir(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	missing := adminOptions{DataDir: filepath.Join(t.TempDir(), "typo")}
	require.ErrorContains(t, runCompact(ctx, &out, missing, true), "not a data directory")
	require.NoDirExists(t, missing.DataDir, "a typo never creates a database")

	dir, _ := buildHeadDB(t, 1, 3)
	db, err := pipeline.Open(dir, testOptions(t))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	o := adminOptions{DataDir: dir}
	require.ErrorIs(t, runCompact(ctx, &out, o, true), pipeline.ErrLocked)
	require.ErrorIs(t, runSnapshot(ctx, &out, o, filepath.Join(t.TempDir(), "snap"), time.Now()), pipeline.ErrLocked)
	require.ErrorIs(t, runCleanTombstones(ctx, &out, o), pipeline.ErrLocked)
	require.ErrorIs(t, runDelete(ctx, &out, o, deleteRequest{Selectors: []string{`{i="0"}`}, Mint: 0, Maxt: 1}), pipeline.ErrLocked)
}

func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	// Blocks and a head: the snapshot holds both.
	dir, want := buildDB(t, 3, 30)
	db, err := pipeline.Open(dir, testOptions(t))
	require.NoError(t, err)
	appendSeconds(t, db, 3, 30, 35, want)
	require.NoError(t, db.Close())
	o := adminOptions{DataDir: dir, Logger: zaptest.NewLogger(t)}

	for _, tc := range []struct {
		name string
		out  string
	}{
		{name: "explicit", out: filepath.Join(t.TempDir(), "snap")},
		{name: "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			require.NoError(t, runSnapshot(ctx, &out, o, tc.out, now))
			snap := tc.out
			if snap == "" {
				snap = filepath.Join(dir, "snapshots", "20260304T050607Z")
			}
			require.Contains(t, out.String(), "snapshot written to "+snap)
			require.Equal(t, want, readAll(t, snap), "the snapshot is a data directory with every sample")
			require.ErrorContains(t, runSnapshot(ctx, &out, o, snap, now), "already exists")
		})
	}
	require.Equal(t, want, readAll(t, dir), "the snapshot left the source intact")
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		sels       []string
		mint, maxt int64
		deleted    map[string][2]int64 // series key → deleted [mint, maxt]
		err        string
	}{
		{name: "one series all time", sels: []string{`{i="1"}`}, mint: math.MinInt64, maxt: math.MaxInt64,
			deleted: map[string][2]int64{`{__name__="m", i="1"}`: {math.MinInt64, math.MaxInt64}}},
		{name: "range across blocks and head", sels: []string{`m{i=~"0|2"}`}, mint: 5_000, maxt: 32_000,
			deleted: map[string][2]int64{`{__name__="m", i="0"}`: {5_000, 32_000}, `{__name__="m", i="2"}`: {5_000, 32_000}}},
		{name: "two selectors", sels: []string{`{i="0"}`, `{i="1"}`}, mint: 0, maxt: 1_000,
			deleted: map[string][2]int64{`{__name__="m", i="0"}`: {0, 1_000}, `{__name__="m", i="1"}`: {0, 1_000}}},
		{name: "no selector", err: "at least one"},
		{name: "match everything", sels: []string{`{i=~".*"}`}, err: "matches every series"},
		{name: "bad selector", sels: []string{`{i=}`}, err: "selector"},
		{name: "start after end", sels: []string{`{i="0"}`}, mint: 2, maxt: 1, err: "after end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, want := buildDB(t, 3, 30)
			db, err := pipeline.Open(dir, testOptions(t))
			require.NoError(t, err)
			appendSeconds(t, db, 3, 30, 40, want) // these stay in the head
			require.NoError(t, db.Close())
			o := adminOptions{DataDir: dir, Logger: zaptest.NewLogger(t)}

			var out bytes.Buffer
			err = runDelete(ctx, &out, o, deleteRequest{Selectors: tc.sels, Mint: tc.mint, Maxt: tc.maxt})
			if tc.err != "" {
				require.ErrorIs(t, err, errFlag)
				require.ErrorContains(t, err, tc.err)
				require.Equal(t, want, readAll(t, dir))
				return
			}
			require.NoError(t, err)
			require.Contains(t, out.String(), fmt.Sprintf("deleted %d selector(s)", len(tc.sels)))
			for key, r := range tc.deleted {
				var kept []sample
				for _, s := range want[key] {
					if s.t < r[0] || s.t > r[1] {
						kept = append(kept, s)
					}
				}
				if len(kept) == 0 {
					delete(want, key)
				} else {
					want[key] = kept
				}
			}
			require.Equal(t, want, readAll(t, dir), "deletion is honoured after reopening")

			out.Reset()
			require.NoError(t, runCleanTombstones(ctx, &out, o))
			require.Contains(t, out.String(), "tombstones cleaned")
			require.Equal(t, want, readAll(t, dir), "clean-tombstones keeps exactly the undeleted data")
			require.NoError(t, runInspect(&out, dir, inspectOptions{Verify: true}))
		})
	}
}

func TestParseSelectors(t *testing.T) {
	ms, err := parseSelectors([]string{`up{job="node",instance=~"a.*"}`})
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Len(t, ms[0], 3)
	_, err = parseSelectors([]string{`rate(up[5m])`})
	require.ErrorIs(t, err, errFlag)
}
