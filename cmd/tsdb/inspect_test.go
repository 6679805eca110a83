package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/silverback-tsdb/tsdb/pipeline"
)

// blockDirs returns the block directories of a data directory.
func blockDirs(t testing.TB, dataDir string) []string {
	t.Helper()
	metas, err := filepath.Glob(filepath.Join(dataDir, "shards", "*", "blocks", "*", "meta.json"))
	require.NoError(t, err)
	dirs := make([]string, len(metas))
	for i, m := range metas {
		dirs[i] = filepath.Dir(m)
	}
	return dirs
}

// flipByte inverts one byte of path at off (negative: from the end).
func flipByte(t testing.TB, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0xFF
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestInspect(t *testing.T) {
	dir, want := buildDB(t, 4, 60)
	blocks := blockDirs(t, dir)
	require.NotEmpty(t, blocks)
	var samples int
	for _, s := range want {
		samples += len(s)
	}

	for _, tc := range []struct {
		name   string
		target string
		verify bool
		want   []string // regexps the output must match
	}{
		{
			name:   "data dir",
			target: dir,
			want: []string{
				`(?m)^shard 00 `, `(?m)^shard 01 `,
				`BLOCK +MIN TIME +MAX TIME +RANGE +SERIES +SAMPLES +CHUNKS +BYTES +B/SAMPLE +LEVEL`,
				`(?m)^[0-9A-Z]{26} +1970-01-01T00:00:\d\d(\.\d+)?Z +1970-01-01T00:0\d:\d\d(\.\d+)?Z +[0-9a-z]+ +\d+ +\d+ +\d+ +\d+ +\d+\.\d\d +\d+ *$`,
				`head: wal \d+ bytes .*head chunk files \d+ bytes`,
				`total: 2 shards, \d+ blocks, \d+ series \(summed over blocks\), ` + strconv.Itoa(samples) + ` samples`,
			},
		},
		{
			name:   "data dir verify",
			target: dir,
			verify: true,
			want:   []string{`LEVEL +VERIFY`, `(?m) ok *$`},
		},
		{
			name:   "shard dir",
			target: filepath.Join(dir, "shards", "01"),
			want:   []string{`(?m)^shard 01 `, `head: wal`},
		},
		{
			name:   "block dir",
			target: blocks[0],
			verify: true,
			want:   []string{`(?m)^` + filepath.Base(blocks[0]) + ` .* ok *$`, `blocks: 1 blocks`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, runInspect(&out, tc.target, inspectOptions{Verify: tc.verify, Logger: zaptest.NewLogger(t)}))
			t.Log("\n" + out.String())
			for _, re := range tc.want {
				require.Regexp(t, regexp.MustCompile(re), out.String())
			}
			require.NotContains(t, out.String(), "FAILED")
		})
	}
	// inspect only reads: the database still opens with every sample.
	require.Equal(t, want, readAll(t, dir))
}

func TestInspect_VerifyDetectsFlippedByte(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string // inside the block directory
		off      int
		openFail bool // damage found by block.Open, without --verify
	}{
		{name: "chunk payload", file: "chunks/000001", off: -3},
		{name: "index", file: "index", off: 20, openFail: true},
		{name: "meta", file: "meta.json", off: 5, openFail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := buildDB(t, 2, 30)
			victim := blockDirs(t, dir)[0]
			flipByte(t, filepath.Join(victim, tc.file), tc.off)

			var out bytes.Buffer
			err := runInspect(&out, dir, inspectOptions{Verify: true, Logger: zaptest.NewLogger(t)})
			t.Log("\n" + out.String())
			require.ErrorIs(t, err, errVerify)
			require.Contains(t, out.String(), "FAILED")
			require.Contains(t, out.String(), "ERROR "+filepath.Base(victim))
			require.Contains(t, out.String(), "corruption in "+victim)
			require.Equal(t, 1, len(regexp.MustCompile(`(?m)  FAILED *$`).FindAllString(out.String(), -1)), "exactly one block row fails")

			out.Reset()
			err = runInspect(&out, dir, inspectOptions{Logger: zaptest.NewLogger(t)})
			if tc.openFail {
				require.ErrorIs(t, err, errVerify, "a block that does not open fails inspect even without --verify")
			} else {
				require.NoError(t, err, "without --verify chunk records are not read")
			}
		})
	}
}

func TestInspect_RefusesLockedDir(t *testing.T) {
	dir, _ := buildDB(t, 1, 5)
	db, err := pipeline.Open(dir, testOptions(t))
	require.NoError(t, err)
	var out bytes.Buffer
	err = runInspect(&out, filepath.Join(dir, "shards", "00"), inspectOptions{})
	require.ErrorIs(t, err, errInUse)
	require.NoError(t, db.Close())
	require.NoError(t, runInspect(&out, dir, inspectOptions{}))
}

func TestInspect_NotADataDir(t *testing.T) {
	var out bytes.Buffer
	require.ErrorIs(t, runInspect(&out, t.TempDir(), inspectOptions{}), errNotDataDir)
	require.Error(t, runInspect(&out, filepath.Join(t.TempDir(), "absent"), inspectOptions{}))
}

func TestInspect_QuarantinedBlock(t *testing.T) {
	dir, _ := buildDB(t, 2, 30)
	victim := blockDirs(t, dir)[0]
	flipByte(t, filepath.Join(victim, "index"), 20)
	// Opening the database moves the damaged block to quarantine/.
	db, err := pipeline.Open(dir, testOptions(t))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	q := filepath.Join(dir, "quarantine", "shard"+filepath.Base(filepath.Dir(filepath.Dir(victim)))+"-"+filepath.Base(victim))
	require.DirExists(t, q)

	var out bytes.Buffer
	require.NoError(t, runInspect(&out, dir, inspectOptions{Verify: true}), "the remaining blocks are sound")
	require.Contains(t, out.String(), filepath.Base(q))
	out.Reset()
	err = runInspect(&out, q, inspectOptions{Verify: true})
	t.Log("\n" + out.String())
	require.ErrorIs(t, err, errVerify)
	require.Contains(t, out.String(), "shard - (")
	require.Contains(t, out.String(), "corruption in "+q+"/index")
}

func TestInspect_ListsQuarantineAndLeftovers(t *testing.T) {
	dir, _ := buildDB(t, 1, 5)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "quarantine", "shard00-01ARZ3NDEKTSV4RRFFQ69G5FAV"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "shards", "00", "blocks", "01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp"), 0o755))
	var out bytes.Buffer
	require.NoError(t, runInspect(&out, dir, inspectOptions{}))
	require.Contains(t, out.String(), "quarantine (")
	require.Contains(t, out.String(), "  shard00-01ARZ3NDEKTSV4RRFFQ69G5FAV\n")
	require.Contains(t, out.String(), "leftover 01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp")
	require.DirExists(t, filepath.Join(dir, "shards", "00", "blocks", "01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp"), "inspect never removes anything")
}
