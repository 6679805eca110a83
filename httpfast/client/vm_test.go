package client_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silverback-tsdb/tsdb/httpfast"
	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// TestVictoriaMetrics_ExportInterop checks that our JSON-lines export is
// VictoriaMetrics's: Debian's victoria-metrics imports what we export
// (/api/v1/import), and what it exports back imports into us with every
// sample (values within VictoriaMetrics's decimal conversion).
func TestVictoriaMetrics_ExportInterop(t *testing.T) {
	vm, err := exec.LookPath("victoria-metrics")
	if err != nil {
		t.Skip("victoria-metrics is not installed (apt-get install -y victoria-metrics)")
	}
	raw, err := os.ReadFile("/work/shared/data/node_exporter_10min.prom")
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	ctx := context.Background()
	src := newTestServer(t, httpfast.Options{})
	sc := newClient(t, src.addr, client.Options{})
	_, err = sc.Import(ctx, client.FormatProm, bytes.NewReader(raw), client.ImportOptions{})
	require.NoError(t, err)
	var ours bytes.Buffer
	_, err = sc.Export(ctx, &ours, client.ExportJSONLines, []string{`{__name__=~".+"}`}, client.Range{})
	require.NoError(t, err)

	listen := freePort(t)
	pctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(pctx, vm, "-storageDataPath="+filepath.Join(t.TempDir(), "vm"), "-httpListenAddr="+listen, "-retentionPeriod=100y", "-search.latencyOffset=0s")
	logf, err := os.Create(filepath.Join(t.TempDir(), "vm.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); _ = logf.Close() })
	base := "http://" + listen
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		require.Less(t, i, 100, "victoria-metrics did not start")
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Post(base+"/api/v1/import", "application/json", bytes.NewReader(ours.Bytes()))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode, string(b))
	resp, err = http.Get(base + "/internal/force_flush")
	require.NoError(t, err)
	resp.Body.Close()
	var theirs []byte
	for i := 0; ; i++ {
		resp, err = http.Get(base + "/api/v1/export?match[]=" + `{__name__=~".%2B"}` + "&start=0")
		require.NoError(t, err)
		theirs, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if bytes.Count(theirs, []byte("\n")) == bytes.Count(ours.Bytes(), []byte("\n")) || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, bytes.Count(ours.Bytes(), []byte("\n")), bytes.Count(theirs, []byte("\n")), "one line per series")

	dst := newTestServer(t, httpfast.Options{})
	dc := newClient(t, dst.addr, client.Options{})
	_, err = dc.Import(ctx, client.FormatJSONLines, bytes.NewReader(theirs), client.ImportOptions{})
	require.NoError(t, err)
	var back bytes.Buffer
	_, err = dc.Export(ctx, &back, client.ExportProm, []string{`{__name__=~".+"}`}, client.Range{})
	require.NoError(t, err)
	var want bytes.Buffer
	_, err = sc.Export(ctx, &want, client.ExportProm, []string{`{__name__=~".+"}`}, client.Range{})
	require.NoError(t, err)
	wl, gl := strings.Split(want.String(), "\n"), strings.Split(back.String(), "\n")
	require.Equal(t, len(wl), len(gl))
	exact := 0
	for i := range wl {
		if wl[i] == gl[i] {
			exact++
			continue
		}
		// Same series and timestamp; the value within 1e-12 relative.
		wf, gf := strings.Fields(wl[i]), strings.Fields(gl[i])
		require.Len(t, gf, 3, gl[i])
		require.Equal(t, wf[0], gf[0])
		require.Equal(t, wf[2], gf[2])
		wv, _ := strconv.ParseFloat(wf[1], 64)
		gv, _ := strconv.ParseFloat(gf[1], 64)
		require.InEpsilon(t, wv, gv, 1e-12, "%s vs %s", wl[i], gl[i])
	}
	t.Logf("%d of %d samples bit-exact through VictoriaMetrics", exact, len(wl)-1)
}
