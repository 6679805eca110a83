package stages

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// Limits bound the shape of a series. Zero fields take the defaults.
type Limits struct {
	MaxLabelsPerSeries int // default 64
	MaxLabelNameLen    int // bytes; default 256
	MaxLabelValueLen   int // bytes; default 4096
}

// Defaults for Limits: generous enough for any exporter seen in practice,
// tight enough that one bad client cannot make a series of megabytes.
const (
	DefaultMaxLabelsPerSeries = 64
	DefaultMaxLabelNameLen    = 256
	DefaultMaxLabelValueLen   = 4096
)

// WithDefaults returns l with zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxLabelsPerSeries <= 0 {
		l.MaxLabelsPerSeries = DefaultMaxLabelsPerSeries
	}
	if l.MaxLabelNameLen <= 0 {
		l.MaxLabelNameLen = DefaultMaxLabelNameLen
	}
	if l.MaxLabelValueLen <= 0 {
		l.MaxLabelValueLen = DefaultMaxLabelValueLen
	}
	return l
}

// Canonicalize checks lset against the data model rules and the limits and
// returns its canonical form: labels with empty values removed (they are
// absent by definition). labels.Labels is sorted by construction. Errors wrap
// ErrInvalidSeries and name the series and the rule.
func Canonicalize(lset labels.Labels, lim Limits) (labels.Labels, error) {
	hasEmpty := false
	n := 0
	var err error
	lset.Range(func(l labels.Label) {
		if err != nil {
			return
		}
		n++
		if l.Value == "" {
			hasEmpty = true
			return
		}
		switch {
		case !validLabelName(l.Name):
			err = fmt.Errorf("%w %s: label name %q must match [a-zA-Z_][a-zA-Z0-9_]*", ErrInvalidSeries, lset, l.Name)
		case len(l.Name) > lim.MaxLabelNameLen:
			err = fmt.Errorf("%w %s: label name %.32q... is %d bytes, limit %d", ErrInvalidSeries, lset, l.Name, len(l.Name), lim.MaxLabelNameLen)
		case len(l.Value) > lim.MaxLabelValueLen:
			err = fmt.Errorf("%w %s: value of label %q is %d bytes, limit %d", ErrInvalidSeries, lset, l.Name, len(l.Value), lim.MaxLabelValueLen)
		case l.Name == labels.MetricName && !validMetricName(l.Value):
			err = fmt.Errorf("%w %s: metric name %q must match [a-zA-Z_:][a-zA-Z0-9_:]*", ErrInvalidSeries, lset, l.Value)
		}
	})
	if err != nil {
		return labels.EmptyLabels(), err
	}
	if hasEmpty {
		lset = lset.WithoutEmpty()
		n = lset.Len()
	}
	if lset.Get(labels.MetricName) == "" {
		return labels.EmptyLabels(), fmt.Errorf("%w %s: no metric name (__name__ is missing or empty)", ErrInvalidSeries, lset)
	}
	if n > lim.MaxLabelsPerSeries {
		return labels.EmptyLabels(), fmt.Errorf("%w %s: %d labels, limit %d", ErrInvalidSeries, lset, n, lim.MaxLabelsPerSeries)
	}
	if name, dup := lset.HasDuplicateLabelNames(); dup {
		return labels.EmptyLabels(), fmt.Errorf("%w %s: duplicate label name %q", ErrInvalidSeries, lset, name)
	}
	return lset, nil
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
