// Command query_range runs a range PromQL query over the last -range with
// the Go client and prints each series' points.
//
//	go run ./examples/query_range -addr localhost:8080 -range 5m -step 15s 'avg_over_time(example_temperature_celsius[1m])'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

func main() {
	addr := flag.String("addr", envOr("TSDB_ADDR", "localhost:8080"), "server address")
	rng := flag.Duration("range", 5*time.Minute, "how far back the range starts")
	step := flag.Duration("step", 15*time.Second, "resolution step")
	flag.Parse()
	q := "example_temperature_celsius"
	if flag.NArg() > 0 {
		q = flag.Arg(0)
	}
	if err := run(*addr, q, *rng, *step); err != nil {
		fmt.Fprintln(os.Stderr, "query_range:", err)
		os.Exit(1)
	}
}

func run(addr, q string, rng, step time.Duration) error {
	c, err := client.New(addr, client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end := time.Now()
	res, err := c.QueryRange(ctx, q, end.Add(-rng), end, step, client.QueryOptions{})
	if err != nil {
		return err
	}
	if len(res.Matrix) == 0 {
		return fmt.Errorf("%s: empty result", q)
	}
	for _, s := range res.Matrix {
		fmt.Printf("%v: %d points\n", s.Metric, len(s.Points))
		for _, p := range s.Points {
			fmt.Printf("  %s %g\n", time.UnixMilli(p.T).UTC().Format(time.RFC3339), p.V)
		}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
