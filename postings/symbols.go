package postings

import "strings"

// symbols interns the label names and values of an in-memory Index and
// numbers them.
//
// Every name and value string the Index keeps is the canonical copy held
// here, so a string used by many label pairs (a host name appearing as
// "instance" and "hostname", "0" as a cpu and as a quantile) is stored once,
// and the Index never retains the caller's labels.Labels memory (with the
// default stringlabels build a label value is a substring of the whole
// series' label string; keeping it would pin every series' labels).
//
// Each symbol also has a dense id (Index.AddSymbols, Index.Symbol), so that
// the head can keep a series' label set as a few bytes of ids instead of
// its own copy of the strings (package shard, head labels). Id 0 is the
// empty string, always present and never counted. Ids of dropped symbols
// are reused.
//
// Symbols are reference counted by the label pairs that use them (and, for
// AddSymbols, by the names of empty-valued labels) and dropped when the last
// user goes, so churn does not leak.
//
// Queries look strings up by string (the Index's maps are keyed by the
// canonical strings); ids cost a lookup only where a caller asks for them.
//
// Owned by the Index's goroutine.
type symbols struct {
	ids  map[string]uint32 // canonical string → id
	strs []string          // by id; "" for id 0 and for free ids
	refs []uint32          // by id: users of the symbol
	free []uint32          // ids to reuse
}

func newSymbols() symbols {
	return symbols{ids: make(map[string]uint32), strs: []string{""}, refs: []uint32{0}}
}

// ref returns the canonical copy of s (non-empty) and its id, and counts
// one more user.
func (st *symbols) ref(s string) (string, uint32) {
	if id, ok := st.ids[s]; ok {
		st.refs[id]++
		return st.strs[id], id
	}
	c := strings.Clone(s)
	var id uint32
	if n := len(st.free); n > 0 {
		id = st.free[n-1]
		st.free = st.free[:n-1]
		st.strs[id], st.refs[id] = c, 1
	} else {
		id = uint32(len(st.strs))
		st.strs = append(st.strs, c)
		st.refs = append(st.refs, 1)
	}
	st.ids[c] = id
	return c, id
}

// unref drops one user of s; the symbol is forgotten with its last user.
func (st *symbols) unref(s string) {
	id, ok := st.ids[s]
	if !ok {
		panic("BUG: postings: unref of unknown symbol")
	}
	st.refs[id]--
	if st.refs[id] == 0 {
		delete(st.ids, s)
		st.strs[id] = ""
		st.free = append(st.free, id)
	}
}

func (st *symbols) len() int { return len(st.ids) }
