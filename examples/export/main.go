// Command export streams the raw samples of the series matching a selector
// to stdout with the Go client: JSON lines (-format jsonl, what `tsdb
// import` reads back) or Prometheus text (-format prom).
//
//	go run ./examples/export -addr localhost:8080 -format jsonl '{__name__=~"example_.*"}'
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
	format := flag.String("format", "jsonl", "jsonl or prom")
	flag.Parse()
	match := `{__name__=~"example_.*"}`
	if flag.NArg() > 0 {
		match = flag.Arg(0)
	}
	if err := run(*addr, client.ExportFormat(*format), match); err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
}

func run(addr string, f client.ExportFormat, match string) error {
	if f != client.ExportJSONLines && f != client.ExportProm {
		return fmt.Errorf("-format %q: want jsonl or prom", f)
	}
	c, err := client.New(addr, client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := c.Export(ctx, os.Stdout, f, []string{match}, client.Range{})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "exported %d bytes\n", n)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
