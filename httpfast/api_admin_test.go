package httpfast

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAdmin_Disabled(t *testing.T) {
	ts := newAPITestServer(t)
	for _, p := range []string{"delete_series", "clean_tombstones", "snapshot", "flush"} {
		r := ts.postForm("/api/v1/admin/tsdb/"+p, "match[]", "up")
		require.Equal(t, 500, r.code, p)
		require.Contains(t, r.body, `{"status":"error","errorType":"unavailable","error":"admin APIs disabled`, p)
	}
	require.Len(t, ts.read(), 8, "nothing deleted")
}

func TestAdmin_Enabled(t *testing.T) {
	ts := newAPITestServer(t, func(o *Options) { o.EnableAdminAPI = true })
	r := ts.postForm("/api/v1/admin/tsdb/delete_series")
	require.Equal(t, 400, r.code)
	require.Contains(t, r.body, "no match[] parameter provided")

	r = ts.postForm("/api/v1/admin/tsdb/delete_series", "match[]", `up{instance="y:9100"}`, "start", "1700000010")
	require.Equal(t, 204, r.code, r.body)
	got := ts.read()
	require.Equal(t, []sample{{1700000000000, 0}}, got[`{__name__="up", instance="y:9100", job="node"}`])
	require.Len(t, got[`{__name__="up", instance="x:9100", job="node"}`], 2)

	r = ts.postForm("/api/v1/admin/tsdb/flush")
	require.Equal(t, 204, r.code, r.body)
	r = ts.postForm("/api/v1/admin/tsdb/clean_tombstones")
	require.Equal(t, 204, r.code, r.body)
	requireSameBits(t, got, ts.read()) // flush and clean keep what is visible

	r = ts.postForm("/api/v1/admin/tsdb/snapshot")
	require.Equal(t, 200, r.code, r.body)
	require.Regexp(t, `^\{"status":"success","data":\{"name":"\d{8}T\d{6}Z-[0-9a-f]{16}"\}\}$`, r.body)
	ents, err := os.ReadDir(filepath.Join(ts.db.Dir(), "snapshots"))
	require.NoError(t, err)
	require.Len(t, ents, 1)

	r = ts.postForm("/api/v1/admin/tsdb/snapshot", "skip_head", "maybe")
	require.Equal(t, 400, r.code)
	require.Contains(t, r.body, `invalid parameter \"skip_head\"`)
}
