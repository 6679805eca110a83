//go:build !unix

package pipeline

import (
	"fmt"
	"os"
)

// lockDir creates dir/LOCK without an OS lock: advisory locking is only
// implemented on Unix.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}
