package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
)

// Result is one measured (or skipped) cell: one line of the results file.
type Result struct {
	Time     string `json:"time"`
	Commit   string `json:"commit,omitempty"`
	Quick    bool   `json:"quick,omitempty"`
	Scenario string `json:"scenario"`
	// Case is the row within the scenario ("influx, existing series");
	// Metric what was measured, with Unit and which way is Better
	// ("lower" or "higher").
	Case   string  `json:"case"`
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Better string  `json:"better"`
	System string  `json:"system"`
	Label  string  `json:"system_label"`
	Run    int     `json:"run"`
	Value  float64 `json:"value"`
	// Skipped says why the cell has no value (a peer absent or unable).
	Skipped string `json:"skipped,omitempty"`
	// Params holds the workload parameters of the cell.
	Params map[string]any `json:"params,omitempty"`
	// Load1 is the machine's 1-minute load average when the cell was
	// recorded (/proc/loadavg; 0 where it is not readable).
	Load1 float64 `json:"load1,omitempty"`
}

// recorder collects results and appends each as a JSON line to w.
// Safe for concurrent use.
type recorder struct {
	mu  sync.Mutex
	w   io.Writer // nil: none
	all []Result
	err error
}

func (r *recorder) add(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, res)
	if r.w != nil && r.err == nil {
		b, err := json.Marshal(res)
		if err == nil {
			b = append(b, '\n')
			_, err = r.w.Write(b)
		}
		r.err = err
	}
}

func (r *recorder) results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// cellKey identifies a row of a table.
type cellKey struct{ Case, Metric string }

// Cell is the summary of one system's runs of one row.
type Cell struct {
	N              int
	Median, Lo, Hi float64
	Skipped        string
	Unit, Better   string
}

// Table is a scenario's results: rows (case, metric) × systems.
type Table struct {
	Scenario string
	Systems  []string // Silverback first, then peers in order of appearance
	Labels   map[string]string
	Rows     []cellKey
	Cells    map[cellKey]map[string]*Cell
}

// Tables groups results by scenario, in order of first appearance.
func Tables(rs []Result) []*Table {
	var out []*Table
	by := map[string]*Table{}
	vals := map[string]map[cellKey]map[string][]float64{}
	for _, r := range rs {
		t := by[r.Scenario]
		if t == nil {
			t = &Table{Scenario: r.Scenario, Labels: map[string]string{}, Cells: map[cellKey]map[string]*Cell{}}
			by[r.Scenario] = t
			out = append(out, t)
			vals[r.Scenario] = map[cellKey]map[string][]float64{}
		}
		if !slices.Contains(t.Systems, r.System) {
			t.Systems = append(t.Systems, r.System)
		}
		if r.Label != "" {
			t.Labels[r.System] = r.Label
		}
		k := cellKey{r.Case, r.Metric}
		if t.Cells[k] == nil {
			t.Cells[k] = map[string]*Cell{}
			t.Rows = append(t.Rows, k)
			vals[r.Scenario][k] = map[string][]float64{}
		}
		c := t.Cells[k][r.System]
		if c == nil {
			c = &Cell{Unit: r.Unit, Better: r.Better}
			t.Cells[k][r.System] = c
		}
		if r.Skipped != "" {
			c.Skipped = r.Skipped
			continue
		}
		vals[r.Scenario][k][r.System] = append(vals[r.Scenario][k][r.System], r.Value)
	}
	for _, t := range out {
		// Silverback first, then the peers in a fixed order.
		slices.SortStableFunc(t.Systems, compareSystems)
		for k, bySys := range vals[t.Scenario] {
			for sys, v := range bySys {
				c := t.Cells[k][sys]
				c.N = len(v)
				c.Median, c.Lo, c.Hi = median(v), slices.Min(v), slices.Max(v)
				c.Skipped = ""
			}
		}
	}
	return out
}

// compareSystems orders the systems' columns: by family (Silverback,
// VictoriaMetrics, Prometheus, InfluxDB), then by version
// ("victoriametrics-1.79" before "victoriametrics-1.151").
func compareSystems(a, b string) int {
	fa, va, _ := strings.Cut(a, "-")
	fb, vb, _ := strings.Cut(b, "-")
	if d := familyRank(fa) - familyRank(fb); d != 0 {
		return d
	}
	return compareVersions(va, vb)
}

func familyRank(family string) int {
	switch family {
	case "silverback":
		return 0
	case "victoriametrics":
		return 1
	case "prometheus":
		return 2
	case "influxdb":
		return 3
	}
	return 4
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quantile returns the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// fmtNum formats v with three significant digits.
func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "—"
	case a >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gK", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// Markdown writes t as a Markdown table: one column per system with the
// median (and range over runs), and a ratio column Silverback / peer per
// peer, computed from the medians of the same run set.
func (t *Table) Markdown(w io.Writer) {
	fmt.Fprintf(w, "### %s\n\n", t.Scenario)
	head := []string{"case", "metric"}
	for _, s := range t.Systems {
		head = append(head, label(t, s))
	}
	for _, s := range t.Systems[1:] {
		head = append(head, "ratio vs "+label(t, s))
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, k := range t.Rows {
		cells := t.Cells[k]
		var unit, better string
		for _, c := range cells {
			unit, better = c.Unit, c.Better
		}
		metric := k.Metric
		if unit != "" {
			metric += " (" + unit + ")"
		}
		if better != "" {
			metric += ", " + better + " is better"
		}
		row := []string{k.Case, metric}
		for _, s := range t.Systems {
			row = append(row, cellText(cells[s]))
		}
		ours := cells[t.Systems[0]]
		for _, s := range t.Systems[1:] {
			p := cells[s]
			switch {
			case ours == nil || p == nil || ours.N == 0 || p.N == 0 || p.Median == 0:
				row = append(row, "—")
			default:
				row = append(row, fmt.Sprintf("%.2f", ours.Median/p.Median))
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
}

func label(t *Table, s string) string {
	if l := t.Labels[s]; l != "" {
		return l
	}
	return s
}

func cellText(c *Cell) string {
	switch {
	case c == nil:
		return "—"
	case c.N == 0:
		return "skipped: " + strings.ReplaceAll(c.Skipped, "|", "/")
	case c.N == 1 || c.Lo == c.Hi:
		return "**" + fmtNum(c.Median) + "**"
	}
	return fmt.Sprintf("**%s** (%s–%s, %d runs)", fmtNum(c.Median), fmtNum(c.Lo), fmtNum(c.Hi), c.N)
}

// ReadResults reads a results file (JSON lines as Run appends them).
// Errors name the line.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	dec := json.NewDecoder(r)
	for line := 1; dec.More(); line++ {
		var res Result
		if err := dec.Decode(&res); err != nil {
			return out, fmt.Errorf("perf: results line %d: %w", line, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// Report writes the tables of rs (only scenarios in keep, when not empty)
// to out and their charts to chartDir (when not empty), as Run does at
// its end: for results read back from a file.
func Report(rs []Result, keep []string, out io.Writer, chartDir string) ([]string, error) {
	var files []string
	for _, t := range Tables(rs) {
		if len(keep) > 0 && !slices.Contains(keep, t.Scenario) && !slices.Contains(keep, "all") {
			continue
		}
		if out != nil {
			t.Markdown(out)
		}
		if chartDir != "" {
			f, err := t.Charts(chartDir)
			files = append(files, f...)
			if err != nil {
				return files, err
			}
		}
	}
	return files, nil
}
