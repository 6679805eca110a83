package httpfast

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Keyed label sets: the JSON, CSV and OTLP parsers write a series' labels
// into its route-cache key as length-prefixed name/value pairs
//
//	<protocol byte> (<uvarint len> name <uvarint len> value)*
//
// so the key is exactly the label set and a cache miss builds the labels
// from the key itself, without a second pass over the body.

// appendPair appends one name/value pair to a keyed label set.
func appendPair(dst []byte, name, value []byte) []byte {
	dst = protowire.AppendVarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = protowire.AppendVarint(dst, uint64(len(value)))
	return append(dst, value...)
}

func appendPairString(dst []byte, name string, value []byte) []byte {
	dst = protowire.AppendVarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = protowire.AppendVarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// labelsFromKey builds the labels of the batch's last series from its
// keyed label set (key without the protocol byte). It returns a problem
// or "".
func (ing *ingester) labelsFromKey(idx uint32, key []byte) string {
	if len(key) == 0 {
		return "series without labels"
	}
	sb := &ing.sb
	sb.Reset()
	for len(key) > 0 {
		name, rest, ok := consumeBytes(key)
		if !ok {
			return "BUG: malformed keyed label set"
		}
		value, rest, ok := consumeBytes(rest)
		if !ok {
			return "BUG: malformed keyed label set"
		}
		key = rest
		if !utf8.Valid(name) || !utf8.Valid(value) {
			return fmt.Sprintf("label %q: not valid UTF-8", truncate(name, 64))
		}
		sb.Add(ustr(name), ustr(value))
	}
	ing.setLabels(idx, ing.buildLabels())
	return ""
}

// consumeBytes splits a varint-length-prefixed byte string off p (as
// appendKeyed and the Influx and text keys write them): the string
// (capacity cut at its end), the rest, and whether p held one.
func consumeBytes(p []byte) (b, rest []byte, ok bool) {
	n, w := protowire.ConsumeVarint(p)
	if w < 0 || n > uint64(len(p)-w) {
		return nil, nil, false
	}
	e := w + int(n)
	return p[w:e:e], p[e:], true
}
