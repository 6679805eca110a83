package crashtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables that carry the child role and its work directory
// from the parent to the re-executed test binary.
const (
	envRole = "SILVERBACK_CRASHTEST_ROLE"
	envDir  = "SILVERBACK_CRASHTEST_DIR"
)

// readyLine is what Ready prints on the child's stdout; Run starts the kill
// delay when it reads it.
const readyLine = "silverback-crashtest: ready"

// ChildDir reports whether the current process is a crash-test child for
// role and, if so, returns the work directory the parent passed in. Tests
// call it first and run only the child body when ok is true.
func ChildDir(role string) (dir string, ok bool) {
	if os.Getenv(envRole) != role || role == "" {
		return "", false
	}
	return os.Getenv(envDir), true
}

// Ready tells the parent that the child finished its set-up; the random
// kill delay counts from here. Call it at most once, from the child only.
func Ready() {
	// NB: a plain write to stdout; the parent reads the pipe line by line.
	fmt.Fprintln(os.Stdout, readyLine)
}

// Options describe one crash round.
type Options struct {
	// Test is the name of the calling top-level test (t.Name() of a
	// top-level test); the child runs it with -test.run=^Test$.
	Test string
	// Role selects the child body; it must match what the child passes to
	// ChildDir.
	Role string
	// Dir is the work directory handed to the child.
	Dir string
	// KillAfter is how long after the child's Ready the parent sends
	// SIGKILL. Zero kills right after Ready.
	KillAfter time.Duration
	// ReadyTimeout bounds how long the parent waits for Ready
	// (default 30s: a -race binary on a loaded machine starts slowly).
	ReadyTimeout time.Duration
}

// Result says how a round ended.
type Result struct {
	// Killed is true when the parent's SIGKILL ended the child; false
	// means the child exited on its own first (its exit error is Exit).
	Killed bool
	// Exit is the child's wait error (nil for a clean exit before the kill).
	Exit error
	// Output is the child's combined output after the ready line, for
	// failure messages.
	Output string
}

// Run starts the child, waits for its Ready, waits o.KillAfter, kills it with
// SIGKILL and reaps it. It returns an error when the child could not be
// started, never became ready, or exited before Ready.
func Run(tb testing.TB, o Options) (Result, error) {
	tb.Helper()
	if o.Test == "" || o.Role == "" {
		return Result{}, errors.New("crashtest: Options.Test and Options.Role are required")
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	exe, err := os.Executable()
	if err != nil {
		return Result{}, fmt.Errorf("crashtest: find test binary: %w", err)
	}
	cmd := exec.Command(exe, "-test.run=^"+o.Test+"$", "-test.count=1", "-test.v=false")
	// NB: a -race binary sleeps 1s at exit by default (atexit_sleep_ms);
	// children that finish on their own would cost a second per round.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), envRole+"="+o.Role, envDir+"="+o.Dir, "GORACE="+gorace)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, fmt.Errorf("crashtest: stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("crashtest: start child: %w", err)
	}

	ready := make(chan error, 1)
	var out strings.Builder
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && sc.Text() == readyLine {
				signalled = true
				ready <- nil
				continue
			}
			out.WriteString(sc.Text())
			out.WriteByte('\n')
		}
		if !signalled {
			ready <- io.ErrUnexpectedEOF
		}
		// Drain whatever remains so the child never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()

	res := Result{}
	timer := time.NewTimer(o.ReadyTimeout)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err != nil {
			res.Exit = cmd.Wait()
			<-outDone
			res.Output = out.String() + stderr.String()
			return res, fmt.Errorf("crashtest: child exited before ready (exit %v): %s", res.Exit, res.Output)
		}
	case <-timer.C:
		_ = cmd.Process.Kill()
		res.Exit = cmd.Wait()
		<-outDone
		return res, fmt.Errorf("crashtest: child not ready within %v", o.ReadyTimeout)
	}

	kill := time.NewTimer(o.KillAfter)
	defer kill.Stop()
	waited := make(chan error, 1)
	go func() {
		<-outDone // Wait must not race the pipe reader (os/exec contract).
		waited <- cmd.Wait()
	}()
	select {
	case <-kill.C:
		res.Killed = cmd.Process.Signal(syscall.SIGKILL) == nil
		res.Exit = <-waited
	case err := <-waited:
		res.Exit = err
	}
	res.Output = out.String() + stderr.String()
	if res.Killed {
		// The child may have exited by itself just before the signal landed.
		var ee *exec.ExitError
		if errors.As(res.Exit, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
				res.Killed = false
			}
		} else {
			res.Killed = false
		}
	}
	return res, nil
}
