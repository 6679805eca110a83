package stages

import (
	"fmt"
	"unicode/utf8"

	"github.com/prometheus/common/model"
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

// SeriesRule names the data-model rule or limit an invalid series broke.
// The names (String) are stable: they are codes in HTTP error bodies.
type SeriesRule uint8

const (
	// RuleNoLabels: the series has no labels and its key is not cached.
	RuleNoLabels SeriesRule = iota + 1
	// RuleLabelName: a label name does not match [a-zA-Z_][a-zA-Z0-9_]*.
	RuleLabelName
	// RuleLabelNameTooLong: a label name is over Limits.MaxLabelNameLen.
	RuleLabelNameTooLong
	// RuleLabelValueTooLong: a label value is over Limits.MaxLabelValueLen.
	RuleLabelValueTooLong
	// RuleLabelValueUTF8: a label value is not valid UTF-8 (as in
	// Prometheus; NUL, newlines and other control characters are valid
	// UTF-8 and accepted, as Prometheus accepts them).
	RuleLabelValueUTF8
	// RuleMetricName: the metric name does not match [a-zA-Z_:][a-zA-Z0-9_:]*.
	RuleMetricName
	// RuleNoMetricName: __name__ is missing or empty.
	RuleNoMetricName
	// RuleTooManyLabels: more labels than Limits.MaxLabelsPerSeries.
	RuleTooManyLabels
	// RuleDuplicateLabel: a label name appears twice.
	RuleDuplicateLabel

	numSeriesRules = int(RuleDuplicateLabel) + 1
)

var ruleNames = [numSeriesRules]string{
	RuleNoLabels:          "no_labels",
	RuleLabelName:         "invalid_label_name",
	RuleLabelNameTooLong:  "label_name_too_long",
	RuleLabelValueTooLong: "label_value_too_long",
	RuleLabelValueUTF8:    "invalid_utf8",
	RuleMetricName:        "invalid_metric_name",
	RuleNoMetricName:      "no_metric_name",
	RuleTooManyLabels:     "too_many_labels",
	RuleDuplicateLabel:    "duplicate_label_name",
}

// String returns the rule's stable snake_case name ("" for the zero value).
func (r SeriesRule) String() string {
	if int(r) < numSeriesRules {
		return ruleNames[r]
	}
	return "unknown"
}

// SeriesError is the typed form of an invalid series (errors.Is
// ErrInvalidSeries): the rule it broke, the label concerned (when one is)
// and a sentence naming the series and the rule.
type SeriesError struct {
	Rule  SeriesRule
	Label string // the offending label's name, "" when the rule is about the whole set
	msg   string
}

func (e *SeriesError) Error() string { return e.msg }

// Unwrap makes errors.Is(err, ErrInvalidSeries) hold.
func (e *SeriesError) Unwrap() error { return ErrInvalidSeries }

func seriesErr(rule SeriesRule, label string, format string, args ...any) *SeriesError {
	return &SeriesError{Rule: rule, Label: label, msg: ErrInvalidSeries.Error() + " " + fmt.Sprintf(format, args...)}
}

// Canonicalize checks lset against the data model rules and the limits and
// returns its canonical form: sorted by name (a set built without sorting,
// say with a ScratchBuilder, is sorted here rather than misread), with
// labels with empty values removed (they are absent by definition).
// Label values must be valid UTF-8; NUL and newlines are valid UTF-8 and
// accepted, as in Prometheus (docs/API.md). Errors are *SeriesError
// (wrapping ErrInvalidSeries) naming the series and the rule.
func Canonicalize(lset labels.Labels, lim Limits) (labels.Labels, error) {
	hasEmpty, unsorted := false, false
	n := 0
	prev := ""
	var err *SeriesError
	lset.Range(func(l labels.Label) {
		if err != nil {
			return
		}
		if n > 0 && l.Name < prev {
			unsorted = true
		}
		prev = l.Name
		n++
		if l.Value == "" {
			hasEmpty = true
			return
		}
		switch {
		case !validLabelName(l.Name):
			err = seriesErr(RuleLabelName, l.Name, "%s: label name %q must match [a-zA-Z_][a-zA-Z0-9_]*", lset, l.Name)
		case len(l.Name) > lim.MaxLabelNameLen:
			err = seriesErr(RuleLabelNameTooLong, l.Name, "%s: label name %.32q... is %d bytes, limit %d", lset, l.Name, len(l.Name), lim.MaxLabelNameLen)
		case len(l.Value) > lim.MaxLabelValueLen:
			err = seriesErr(RuleLabelValueTooLong, l.Name, "%s: value of label %q is %d bytes, limit %d", lset, l.Name, len(l.Value), lim.MaxLabelValueLen)
		case !utf8.ValidString(l.Value):
			err = seriesErr(RuleLabelValueUTF8, l.Name, "%s: value of label %q is not valid UTF-8", lset, l.Name)
		case l.Name == model.MetricNameLabel && !validMetricName(l.Value):
			err = seriesErr(RuleMetricName, l.Name, "%s: metric name %q must match [a-zA-Z_:][a-zA-Z0-9_:]*", lset, l.Value)
		}
	})
	if err != nil {
		return labels.EmptyLabels(), err
	}
	if unsorted {
		b := labels.NewScratchBuilder(n)
		lset.Range(func(l labels.Label) { b.Add(l.Name, l.Value) })
		b.Sort()
		lset = b.Labels()
	}
	if hasEmpty {
		lset = lset.WithoutEmpty()
		n = lset.Len()
	}
	if lset.Get(model.MetricNameLabel) == "" {
		return labels.EmptyLabels(), seriesErr(RuleNoMetricName, model.MetricNameLabel, "%s: no metric name (__name__ is missing or empty)", lset)
	}
	if n > lim.MaxLabelsPerSeries {
		return labels.EmptyLabels(), seriesErr(RuleTooManyLabels, "", "%s: %d labels, limit %d", lset, n, lim.MaxLabelsPerSeries)
	}
	if name, dup := lset.HasDuplicateLabelNames(); dup {
		return labels.EmptyLabels(), seriesErr(RuleDuplicateLabel, name, "%s: duplicate label name %q", lset, name)
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
