// Command query runs an instant PromQL query with the Go client and prints
// the result vector.
//
//	go run ./examples/query -addr localhost:8080 'example_temperature_celsius'
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
	flag.Parse()
	q := "example_temperature_celsius"
	if flag.NArg() > 0 {
		q = flag.Arg(0)
	}
	if err := run(*addr, q); err != nil {
		fmt.Fprintln(os.Stderr, "query:", err)
		os.Exit(1)
	}
}

func run(addr, q string) error {
	c, err := client.New(addr, client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Query(ctx, q, time.Now(), client.QueryOptions{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	switch res.Type {
	case client.TypeVector:
		for _, s := range res.Vector {
			fmt.Printf("%v => %g @ %s\n", s.Metric, s.V, time.UnixMilli(s.T).UTC().Format(time.RFC3339))
		}
		if len(res.Vector) == 0 {
			return fmt.Errorf("%s: empty result", q)
		}
	case client.TypeScalar:
		fmt.Printf("scalar %g\n", res.Scalar.V)
	default:
		fmt.Printf("%s result\n", res.Type)
	}
	for _, w := range res.Warnings {
		fmt.Println("warning:", w)
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
