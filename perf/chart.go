package perf

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// Charts draws one SVG bar chart per metric of t into dir: the cases on
// the x axis, one bar per system (its median over the runs; a skipped cell
// has no bar). It returns the files written.
func (t *Table) Charts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var metrics []string
	for _, k := range t.Rows {
		if !slices.Contains(metrics, k.Metric) {
			metrics = append(metrics, k.Metric)
		}
	}
	var files []string
	for _, m := range metrics {
		var cases []string
		var unit string
		for _, k := range t.Rows {
			if k.Metric == m {
				cases = append(cases, k.Case)
				for _, c := range t.Cells[k] {
					unit = c.Unit
				}
			}
		}
		p := plot.New()
		p.Title.Text = t.Scenario + ": " + m
		p.Y.Label.Text = unit
		p.Y.Min = 0
		w := vg.Points(float64(60) / float64(max(1, len(t.Systems))))
		bars := 0
		for i, s := range t.Systems {
			vs := make(plotter.Values, len(cases))
			any := false
			for j, cs := range cases {
				if c := t.Cells[cellKey{cs, m}][s]; c != nil && c.N > 0 {
					vs[j] = c.Median
					any = true
				}
			}
			if !any {
				continue
			}
			b, err := plotter.NewBarChart(vs, w)
			if err != nil {
				return files, fmt.Errorf("perf: chart %s/%s: %w", t.Scenario, m, err)
			}
			b.LineStyle.Width = vg.Length(0)
			b.Color = plotutil.Color(i)
			b.Offset = w * vg.Length(float64(i)-float64(len(t.Systems)-1)/2)
			p.Add(b)
			p.Legend.Add(label(t, s), b)
			bars++
		}
		if bars == 0 {
			continue
		}
		p.Legend.Top = true
		p.NominalX(cases...)
		name := filepath.Join(dir, strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Scenario+"-"+m), "-"), "-")+".svg")
		width := vg.Length(max(4, 1.6*float64(len(cases)))) * vg.Inch
		if err := p.Save(width, 3.5*vg.Inch, name); err != nil {
			return files, fmt.Errorf("perf: chart %s: %w", name, err)
		}
		files = append(files, name)
	}
	return files, nil
}
