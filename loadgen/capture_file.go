package loadgen

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// maxCaptureFile bounds the decompressed size of a capture file read by
// ReadCaptureFile (the dense in-memory form is bounded separately).
const maxCaptureFile = 1 << 30

// ReadCaptureFile reads and parses the capture file at path (see
// Capture). A name ending in ".zst" is decompressed with zstd first, as
// the 2 h capture the repository ships (perf/testdata) is stored.
func ReadCaptureFile(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: capture: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".zst") {
		d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxCaptureFile))
		if err != nil {
			return nil, fmt.Errorf("loadgen: capture %s: %w", path, err)
		}
		defer d.Close()
		r = d
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCaptureFile+1))
	if err != nil {
		return nil, fmt.Errorf("loadgen: capture %s: %w", path, err)
	}
	if len(b) > maxCaptureFile {
		return nil, fmt.Errorf("loadgen: capture %s: larger than %d MiB", path, maxCaptureFile>>20)
	}
	c, err := parseCapture(string(b))
	if err != nil {
		return nil, fmt.Errorf("loadgen: capture %s: %w", path, err)
	}
	return c, nil
}
