package httpfast

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
)

// bodyDecoder decompresses request bodies into a reused buffer under the
// decoded-size limit and the server-wide decode budget. Owned by the
// ingester that holds it.
type bodyDecoder struct {
	buf      []byte
	reserved int64 // bytes of the server's decode budget held, released by release
	src      bytes.Reader
	gz       *gzip.Reader // lazily created, then Reset per body
}

// maxPooledBodyBytes keeps one huge body from pinning its buffer in the
// ingester pool.
const maxPooledBodyBytes = 8 << 20

// decode returns the body decompressed per encoding ("", "identity",
// "gzip", "snappy" block format). The result aliases d.buf (or body, when
// it is not compressed) and is valid until the next decode or release.
func (d *bodyDecoder) decode(s *Server, body, encoding []byte) ([]byte, error) {
	switch string(encoding) {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		return d.gunzip(s, body)
	case "snappy":
		return d.unsnappy(s, body)
	}
	return nil, fmt.Errorf("%w: Content-Encoding %q (want gzip or none here)", ErrUnsupportedEncoding, encoding)
}

func (d *bodyDecoder) reserve(s *Server, n int64) error {
	if !s.decodeBudget.tryAcquire(n) {
		s.m.decodeBudgetFull.Inc()
		return fmt.Errorf("%w: %d decompressed bytes in flight (--ingest.max-decode-bytes-in-flight)", ErrBusy, s.lim.MaxDecodeBytesInFlight)
	}
	d.reserved += n
	return nil
}

func (d *bodyDecoder) unsnappy(s *Server, body []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %w", ErrBadBody, err)
	}
	if n > s.lim.MaxDecodedBytes {
		return nil, fmt.Errorf("%w: snappy body decodes to %d bytes, limit %d (--ingest.max-decoded-body-size)", ErrTooLarge, n, s.lim.MaxDecodedBytes)
	}
	if err := d.reserve(s, int64(n)); err != nil {
		return nil, err
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	out, err := snappy.Decode(d.buf[:n], body)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %w", ErrBadBody, err)
	}
	return out, nil
}

// gunzipStep is how much of the decode budget a gzip body takes at a time.
const gunzipStep = 256 << 10

func (d *bodyDecoder) gunzip(s *Server, body []byte) ([]byte, error) {
	d.src.Reset(body)
	if d.gz == nil {
		gz, err := gzip.NewReader(&d.src)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrBadBody, err)
		}
		d.gz = gz
	} else if err := d.gz.Reset(&d.src); err != nil {
		return nil, fmt.Errorf("%w: gzip: %w", ErrBadBody, err)
	}
	buf := d.buf[:0]
	limit := s.lim.MaxDecodedBytes
	for {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(max(2*cap(buf), gunzipStep), limit+1))
			copy(nb, buf)
			buf = nb
		}
		end := min(cap(buf), len(buf)+gunzipStep)
		if int64(end) > d.reserved {
			if err := d.reserve(s, int64(end)-d.reserved); err != nil {
				d.buf = buf
				return nil, err
			}
		}
		n, err := d.gz.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			d.buf = buf
			return nil, fmt.Errorf("%w: gzip body decodes to more than %d bytes (--ingest.max-decoded-body-size)", ErrTooLarge, limit)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.buf = buf
			return nil, fmt.Errorf("%w: gzip: %w", ErrBadBody, err)
		}
	}
	d.buf = buf
	return buf, nil
}

// release returns the decode budget and drops an oversized buffer.
func (d *bodyDecoder) release(s *Server) {
	if d.reserved > 0 {
		s.decodeBudget.release(d.reserved)
		d.reserved = 0
	}
	if cap(d.buf) > maxPooledBodyBytes {
		d.buf = nil
	}
	d.src.Reset(nil)
}
