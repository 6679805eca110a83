package httpfast

import "errors"

// Sentinels of the request errors the handlers map to HTTP statuses (in
// one place, status.go); the text after the sentinel names the problem.
var (
	// ErrBadBody: the body cannot be decoded at all (corrupt gzip or
	// snappy, protobuf that is not a message of the expected type). 400.
	ErrBadBody = errors.New("httpfast: malformed body")
	// ErrTooLarge: the body, its decompressed form, or its count of lines
	// or series is over a limit. 413; nothing is stored.
	ErrTooLarge = errors.New("httpfast: request too large")
	// ErrUnsupportedMediaType: a Content-Type (or remote-write proto
	// parameter) this endpoint does not speak. 415.
	ErrUnsupportedMediaType = errors.New("httpfast: unsupported media type")
	// ErrUnsupportedEncoding: a Content-Encoding this endpoint does not
	// speak. 415.
	ErrUnsupportedEncoding = errors.New("httpfast: unsupported content encoding")
	// ErrBadParam: a query parameter with an invalid value (precision,
	// format). 400.
	ErrBadParam = errors.New("httpfast: bad parameter")
	// ErrBusy: a server-wide bound (decode bytes in flight) is reached.
	// 503 with Retry-After.
	ErrBusy = errors.New("httpfast: busy")
)
