package chunkstore

// LastValueBits returns the float64 bit pattern of the last appended value
// (0 before any). The head uses it for the duplicate-sample rule instead of
// keeping its own copy of the value in every series.
func (a *Appender) LastValueBits() uint64 { return a.v }
