package loadgen

import (
	"fmt"

	"github.com/klauspost/compress/snappy"
)

// Protocol names a wire protocol (or the in-process path).
type Protocol string

// The protocols.
const (
	// ProtocolInflux: InfluxDB line protocol, one line per sample
	// (`name,label=value,... value=V T_ns`), uncompressed.
	ProtocolInflux Protocol = "influx"
	// ProtocolRW1: Prometheus remote write 1.0 (prometheus.WriteRequest,
	// snappy block compressed).
	ProtocolRW1 Protocol = "rw1"
	// ProtocolRW2: Prometheus remote write 2.0
	// (io.prometheus.write.v2.Request with symbols and metadata, snappy).
	ProtocolRW2 Protocol = "rw2"
	// ProtocolOTLP: OTLP/HTTP protobuf ExportMetricsServiceRequest
	// (gauges and cumulative monotonic sums), uncompressed.
	ProtocolOTLP Protocol = "otlp"
	// ProtocolInProcess: stages.Batch values handed to a Target in the same
	// process (package loadgen/inprocess appends them to a pipeline.DB).
	ProtocolInProcess Protocol = "inprocess"
)

// Protocols lists every protocol, for flag help and validation.
var Protocols = []Protocol{ProtocolInflux, ProtocolRW1, ProtocolRW2, ProtocolOTLP, ProtocolInProcess}

// ParseProtocol returns the protocol named s.
func ParseProtocol(s string) (Protocol, error) {
	for _, p := range Protocols {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("loadgen: unknown protocol %q (want influx, rw1, rw2, otlp or inprocess)", s)
}

// encoder turns host scrapes into request payloads for one protocol. Each
// keeps a pre-encoded form of every host it serves (labels and framing
// with fixed-width slots for the timestamp and value), so a scrape costs a
// copy and a few patched bytes per sample. Owned by one worker.
type encoder interface {
	// prepare (re)builds the pre-encoded form of h; it is called before
	// h's first scrape and again whenever h.relabel is set.
	prepare(h *host) error
	// add appends series [i, j) of h's current scrape (h.cur, h.vals) to
	// the request being built and returns the number of samples it added
	// (fewer than j-i when h.skip or the protocol drops some).
	add(h *host, i, j int) int
	// finish completes the request into p and starts the next one; p's
	// bytes alias the encoder's buffers and are valid until the next add.
	finish(p *Payload)
}

// newEncoder returns the encoder of protocol p for a worker of the shape
// that owns hosts hosts (their count bounds the hosts of one request).
func newEncoder(p Protocol, s *shape, hosts int) (encoder, error) {
	switch p {
	case ProtocolInflux:
		return newInfluxEncoder(s), nil
	case ProtocolRW1:
		return newRW1Encoder(s), nil
	case ProtocolRW2:
		return newRW2Encoder(s, hosts), nil
	case ProtocolOTLP:
		return newOTLPEncoder(s), nil
	case ProtocolInProcess:
		return newBatchEncoder(s), nil
	}
	return nil, fmt.Errorf("loadgen: unknown protocol %q", p)
}

// snappyBlock compresses src into dst's storage (grown as needed) in the
// snappy block format remote write uses, and returns the result.
func snappyBlock(dst, src []byte) []byte {
	if n := snappy.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return snappy.Encode(dst[:cap(dst)], src)
}

// grow returns b with room for n more bytes, reallocating at most once per
// doubling.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}
