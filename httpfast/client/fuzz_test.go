package client

import (
	"encoding/json"
	"testing"
)

// FuzzJSONLinesToWrite: any input converts to valid JSON or is an error
// naming its line; never a panic.
func FuzzJSONLinesToWrite(f *testing.F) {
	for _, s := range []string{
		`{"metric":{"__name__":"m","a":"1"},"values":[1,"NaN",2.5e-300],"timestamps":[1,2,3]}`,
		"\n\n" + `{"metric":{"__name__":"m"},"values":["+Inf"],"timestamps":[1]}` + "\n" + `{"metric":{"__name__":"n"},"values":[0],"timestamps":[-5]}`,
		`{"metric":{},"values":[],"timestamps":[]}`,
		`{"metric":{"a":"\u00e9\n"},"values":["1e400"],"timestamps":[1]}`,
		`not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := JSONLinesToWrite(in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON for %q: %s", in, out)
		}
	})
}
