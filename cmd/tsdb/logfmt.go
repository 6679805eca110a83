package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// logfmtEncoder renders zap entries as logfmt (key=value pairs, values
// quoted when needed) by re-reading the JSON encoder's line in order.
// Logs are lifecycle events only, so the round trip costs nothing that
// matters, and the field encoding stays zap's own.
type logfmtEncoder struct {
	zapcore.Encoder // a JSON encoder
}

var bufPool = buffer.NewPool()

func newLogfmtEncoder(cfg zapcore.EncoderConfig) zapcore.Encoder {
	return logfmtEncoder{zapcore.NewJSONEncoder(cfg)}
}

func (e logfmtEncoder) Clone() zapcore.Encoder { return logfmtEncoder{e.Encoder.Clone()} }

func (e logfmtEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	jb, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	defer jb.Free()
	out := bufPool.Get()
	dec := json.NewDecoder(bytes.NewReader(jb.Bytes()))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return nil, fmt.Errorf("logfmt: %w", err)
	}
	first := true
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("logfmt: %w", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("logfmt: %w", err)
		}
		if !first {
			out.AppendByte(' ')
		}
		first = false
		out.AppendString(fmt.Sprint(kt))
		out.AppendByte('=')
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // numbers, booleans, objects as JSON
		}
		if s == "" || strings.ContainsAny(s, " =\"\\\n\t") {
			s = strconv.Quote(s)
		}
		out.AppendString(s)
	}
	out.AppendByte('\n')
	return out, nil
}
