package postings

import "strings"

// symbols interns the label names and values of an in-memory Index.
//
// Every name and value string the Index keeps is the canonical copy held
// here, so a string used by many label pairs (a host name appearing as
// "instance" and "hostname", "0" as a cpu and as a quantile) is stored once,
// and the Index never retains the caller's labels.Labels memory (with the
// default stringlabels build a label value is a substring of the whole
// series' label string; keeping it would pin every series' labels).
//
// Symbols are reference counted by the label pairs that use them and
// dropped when the last pair goes, so churn does not leak.
//
// In memory symbols are keyed by string, not by a dense id: an id would add
// a map lookup to every query without saving memory, because the strings
// are shared anyway. Ids exist only in the serialized form, where they are
// positions in the sorted symbol table.
//
// Owned by the Index's goroutine.
type symbols struct {
	m map[string]symbol
}

type symbol struct {
	s    string // canonical copy, owned by the table
	refs uint32 // label pairs using s as name or value
}

func newSymbols() symbols { return symbols{m: make(map[string]symbol)} }

// ref returns the canonical copy of s and counts one more user.
func (st *symbols) ref(s string) string {
	if sym, ok := st.m[s]; ok {
		sym.refs++
		st.m[sym.s] = sym
		return sym.s
	}
	c := strings.Clone(s)
	st.m[c] = symbol{s: c, refs: 1}
	return c
}

// unref drops one user of s; the symbol is forgotten with its last user.
func (st *symbols) unref(s string) {
	sym, ok := st.m[s]
	if !ok {
		panic("BUG: postings: unref of unknown symbol")
	}
	sym.refs--
	if sym.refs == 0 {
		delete(st.m, s)
		return
	}
	st.m[sym.s] = sym
}

func (st *symbols) len() int { return len(st.m) }
