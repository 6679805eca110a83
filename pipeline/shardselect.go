package pipeline

// Series returns series i of the set (0 <= i < Len), independent of the
// Next/At cursor: consumers that evaluate a set's series in parallel give
// each worker its own range of indexes and iterators. Valid until the
// querier is closed.
func (ss *SeriesSet) Series(i int) *Series {
	return &Series{data: &ss.series[i], mint: ss.mint, maxt: ss.maxt}
}
