package chunkstore_test

import (
	"fmt"

	"github.com/silverback-tsdb/tsdb/chunkstore"
)

// Encode a few samples, frame them as an on-disk record, read the record
// back and iterate it.
func Example() {
	var a chunkstore.Appender
	a.Reset(make([]byte, 0, 64))
	for i, v := range []float64{1, 1, 2.5} {
		a.Append(1767225600000+int64(i)*15000, v)
	}
	file := chunkstore.AppendRecord(nil, a.Chunk())

	c, next, err := chunkstore.DecodeRecord(file, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	it := c.Iterator(nil)
	for it.Next() {
		t, v := it.At()
		fmt.Println(t, v)
	}
	fmt.Println("err:", it.Err(), "record bytes:", next)
	// Output:
	// 1767225600000 1
	// 1767225615000 1
	// 1767225630000 2.5
	// err: <nil> record bytes: 26
}

// SeekTo skips to the first sample at or after a timestamp.
func ExampleIterator_SeekTo() {
	var a chunkstore.Appender
	for i := range 10 {
		a.Append(int64(i)*1000, float64(i))
	}
	it := a.Chunk().Iterator(nil)
	if it.SeekTo(4500) {
		t, v := it.At()
		fmt.Println(t, v)
	}
	// Output: 5000 5
}
