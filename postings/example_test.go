package postings_test

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/silverback-tsdb/tsdb/postings"
)

func ExampleIndex_Select() {
	ix := postings.NewIndex()
	ix.Add(0, labels.FromStrings("__name__", "up", "job", "api", "instance", "a:9100"))
	ix.Add(1, labels.FromStrings("__name__", "up", "job", "db", "instance", "b:9100"))
	ix.Add(2, labels.FromStrings("__name__", "up", "instance", "c:9100"))

	refs, err := ix.Select(
		labels.MustNewMatcher(labels.MatchEqual, "__name__", "up"),
		labels.MustNewMatcher(labels.MatchNotEqual, "job", "db"), // keeps series without job
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(refs.ToArray())

	// Serialize for a block and query the bytes in place.
	b, err := ix.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	r, err := postings.NewReader(b)
	if err != nil {
		panic(err)
	}
	jobs, err := r.LabelValues("job")
	if err != nil {
		panic(err)
	}
	fmt.Println(jobs)

	_, err = r.Select(labels.MustNewMatcher(labels.MatchEqual, "job", ""))
	fmt.Println(err != nil)
	// Output:
	// [0 2]
	// [api db]
	// true
}
