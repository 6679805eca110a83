package stages

import (
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// The route cache keeps an entry's labels as the pointer and length of
// their string, in atomics, so an entry can be rewritten in place while
// lock-free readers load it (routeEntry). That needs the default
// stringlabels build of prometheus/model/labels, where a Labels is one
// string; this fails to compile under another build (slicelabels,
// dedupelabels), whose Labels is larger.
var _ = [1]struct{}{}[unsafe.Sizeof(labels.Labels{})-unsafe.Sizeof("")]

// labelsData returns the string a Labels is.
func labelsData(ls labels.Labels) string { return *(*string)(unsafe.Pointer(&ls)) }

// labelsOfData is the Labels whose string is s (from labelsData).
func labelsOfData(s string) labels.Labels { return *(*labels.Labels)(unsafe.Pointer(&s)) }
