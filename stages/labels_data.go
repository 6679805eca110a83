package stages

import (
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// Split keys a series that carries labels and no raw key by its labels'
// own bytes; labelsKey views them without the copy Labels.Bytes makes
// (~20 ns a series in BenchmarkAppend's profile). That needs the default
// stringlabels build of prometheus/model/labels, where a Labels is one
// string; this fails to compile under another build (slicelabels,
// dedupelabels), whose Labels is larger.
var _ = [1]struct{}{}[unsafe.Sizeof(labels.Labels{})-unsafe.Sizeof("")]

// labelsKey returns the bytes of ls's string, read-only: the caller must
// never write to them.
func labelsKey(ls labels.Labels) []byte {
	s := *(*string)(unsafe.Pointer(&ls))
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
