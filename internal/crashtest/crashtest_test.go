package crashtest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun_KillsChild(t *testing.T) {
	if dir, ok := ChildDir("counter"); ok {
		// The first write happens before Ready, so the parent's check
		// does not depend on how soon a loaded machine schedules us.
		for i := 0; ; i++ {
			if err := os.WriteFile(filepath.Join(dir, "n"), []byte(strconv.Itoa(i)), 0o644); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				Ready()
			}
			time.Sleep(time.Millisecond) // NB: pacing only; the parent kills us.
		}
	}
	dir := t.TempDir()
	res, err := Run(t, Options{Test: t.Name(), Role: "counter", Dir: dir, KillAfter: 20 * time.Millisecond})
	require.NoError(t, err)
	require.True(t, res.Killed, "child output: %s", res.Output)
	_, err = os.Stat(filepath.Join(dir, "n"))
	require.NoError(t, err)
}

func TestRun_ChildExitsFirst(t *testing.T) {
	if _, ok := ChildDir("quick"); ok {
		Ready()
		return
	}
	res, err := Run(t, Options{Test: t.Name(), Role: "quick", Dir: t.TempDir(), KillAfter: time.Minute})
	require.NoError(t, err)
	require.False(t, res.Killed)
	require.NoError(t, res.Exit)
}

func TestRun_NeverReady(t *testing.T) {
	if _, ok := ChildDir("silent"); ok {
		return
	}
	_, err := Run(t, Options{Test: t.Name(), Role: "silent", Dir: t.TempDir()})
	require.Error(t, err)
}

func TestRun_BadOptions(t *testing.T) {
	_, err := Run(t, Options{})
	require.Error(t, err)
}

func TestChildDir_NotChild(t *testing.T) {
	_, ok := ChildDir("")
	require.False(t, ok)
}
