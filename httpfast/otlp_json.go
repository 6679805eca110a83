package httpfast

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// OTLP/JSON (Content-Type: application/json): the protobuf messages in
// the OTLP JSON mapping (lowerCamelCase keys, 64-bit integers as strings
// or numbers, enums as numbers). It is decoded with encoding/json and
// re-encoded as protobuf for the one decoder (decodeOTLP), so both
// encodings translate identically. Not allocation-free: JSON OTLP is the
// debugging and low-volume path; exporters default to protobuf.

// jsonU64 accepts a JSON number or a string holding one.
type jsonU64 uint64

func (v *jsonU64) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 {
		return nil
	}
	if b[0] == '-' {
		i, err := strconv.ParseInt(string(b), 10, 64)
		*v = jsonU64(uint64(i))
		return err
	}
	u, err := strconv.ParseUint(string(b), 10, 64)
	*v = jsonU64(u)
	return err
}

// jsonF64 accepts a JSON number or a string ("NaN", "Infinity", ...).
type jsonF64 float64

func (v *jsonF64) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	switch s {
	case "Infinity":
		*v = jsonF64(math.Inf(1))
		return nil
	case "-Infinity":
		*v = jsonF64(math.Inf(-1))
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	*v = jsonF64(f)
	return err
}

type otlpJSONKV struct {
	Key   string `json:"key"`
	Value struct {
		StringValue *string  `json:"stringValue"`
		BoolValue   *bool    `json:"boolValue"`
		IntValue    *jsonU64 `json:"intValue"`
		DoubleValue *jsonF64 `json:"doubleValue"`
	} `json:"value"`
}

type otlpJSONPoint struct {
	Attributes     []otlpJSONKV `json:"attributes"`
	TimeUnixNano   jsonU64      `json:"timeUnixNano"`
	AsDouble       *jsonF64     `json:"asDouble"`
	AsInt          *jsonU64     `json:"asInt"`
	Flags          jsonU64      `json:"flags"`
	Count          jsonU64      `json:"count"`
	Sum            *jsonF64     `json:"sum"`
	BucketCounts   []jsonU64    `json:"bucketCounts"`
	ExplicitBounds []jsonF64    `json:"explicitBounds"`
	QuantileValues []struct {
		Quantile jsonF64 `json:"quantile"`
		Value    jsonF64 `json:"value"`
	} `json:"quantileValues"`
}

type otlpJSONData struct {
	DataPoints             []otlpJSONPoint `json:"dataPoints"`
	AggregationTemporality jsonU64         `json:"aggregationTemporality"`
	IsMonotonic            bool            `json:"isMonotonic"`
}

type otlpJSONRequest struct {
	ResourceMetrics []struct {
		Resource struct {
			Attributes []otlpJSONKV `json:"attributes"`
		} `json:"resource"`
		ScopeMetrics []struct {
			Metrics []struct {
				Name                 string        `json:"name"`
				Description          string        `json:"description"`
				Unit                 string        `json:"unit"`
				Gauge                *otlpJSONData `json:"gauge"`
				Sum                  *otlpJSONData `json:"sum"`
				Histogram            *otlpJSONData `json:"histogram"`
				ExponentialHistogram *otlpJSONData `json:"exponentialHistogram"`
				Summary              *otlpJSONData `json:"summary"`
			} `json:"metrics"`
		} `json:"scopeMetrics"`
	} `json:"resourceMetrics"`
}

// otlpJSONToProto converts an OTLP/JSON body to the protobuf encoding.
func otlpJSONToProto(body []byte) ([]byte, error) {
	var req otlpJSONRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: OTLP JSON: %w", ErrBadBody, err)
	}
	msg := func(dst []byte, num protowire.Number, inner []byte) []byte {
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
		return protowire.AppendBytes(dst, inner)
	}
	f64 := func(dst []byte, num protowire.Number, v float64) []byte {
		dst = protowire.AppendTag(dst, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(dst, math.Float64bits(v))
	}
	fx := func(dst []byte, num protowire.Number, v uint64) []byte {
		dst = protowire.AppendTag(dst, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(dst, v)
	}
	vi := func(dst []byte, num protowire.Number, v uint64) []byte {
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, v)
	}
	kvs := func(dst []byte, num protowire.Number, attrs []otlpJSONKV) []byte {
		for _, a := range attrs {
			var val []byte
			switch v := a.Value; {
			case v.StringValue != nil:
				val = msg(nil, 1, []byte(*v.StringValue))
			case v.BoolValue != nil:
				b := uint64(0)
				if *v.BoolValue {
					b = 1
				}
				val = vi(nil, 2, b)
			case v.IntValue != nil:
				val = vi(nil, 3, uint64(*v.IntValue))
			case v.DoubleValue != nil:
				val = f64(nil, 4, float64(*v.DoubleValue))
			}
			dst = msg(dst, num, msg(msg(nil, 1, []byte(a.Key)), 2, val))
		}
		return dst
	}
	var out []byte
	for _, rm := range req.ResourceMetrics {
		r := msg(nil, 1, kvs(nil, 1, rm.Resource.Attributes))
		for _, sm := range rm.ScopeMetrics {
			var scope []byte
			for _, m := range sm.Metrics {
				mb := msg(nil, 1, []byte(m.Name))
				mb = msg(mb, 2, []byte(m.Description))
				mb = msg(mb, 3, []byte(m.Unit))
				for _, d := range []struct {
					num  protowire.Number
					data *otlpJSONData
				}{{5, m.Gauge}, {7, m.Sum}, {9, m.Histogram}, {10, m.ExponentialHistogram}, {11, m.Summary}} {
					if d.data == nil {
						continue
					}
					var db []byte
					for _, p := range d.data.DataPoints {
						var pb []byte
						pb = fx(pb, 3, uint64(p.TimeUnixNano))
						switch d.num {
						case 5, 7:
							pb = kvs(pb, 7, p.Attributes)
							if p.AsDouble != nil {
								pb = f64(pb, 4, float64(*p.AsDouble))
							}
							if p.AsInt != nil {
								pb = fx(pb, 6, uint64(*p.AsInt))
							}
							pb = vi(pb, 8, uint64(p.Flags))
						case 9:
							pb = kvs(pb, 9, p.Attributes)
							pb = fx(pb, 4, uint64(p.Count))
							if p.Sum != nil {
								pb = f64(pb, 5, float64(*p.Sum))
							}
							var bc, eb []byte
							for _, c := range p.BucketCounts {
								bc = protowire.AppendFixed64(bc, uint64(c))
							}
							for _, e := range p.ExplicitBounds {
								eb = protowire.AppendFixed64(eb, math.Float64bits(float64(e)))
							}
							pb = msg(pb, 6, bc)
							pb = msg(pb, 7, eb)
							pb = vi(pb, 10, uint64(p.Flags))
						case 10:
							pb = kvs(pb, 1, p.Attributes)
						case 11:
							pb = kvs(pb, 7, p.Attributes)
							pb = fx(pb, 4, uint64(p.Count))
							if p.Sum != nil {
								pb = f64(pb, 5, float64(*p.Sum))
							}
							for _, q := range p.QuantileValues {
								pb = msg(pb, 6, f64(f64(nil, 1, float64(q.Quantile)), 2, float64(q.Value)))
							}
							pb = vi(pb, 8, uint64(p.Flags))
						}
						db = msg(db, 1, pb)
					}
					db = vi(db, 2, uint64(d.data.AggregationTemporality))
					if d.data.IsMonotonic {
						db = vi(db, 3, 1)
					}
					mb = msg(mb, d.num, db)
				}
				scope = msg(scope, 2, mb)
			}
			r = msg(r, 2, scope)
		}
		out = msg(out, 1, r)
	}
	return out, nil
}
