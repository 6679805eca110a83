// Command write sends samples to Silverback with the Go client: a series
// by remote write (WriteSeries) and a line of Influx line protocol (Write).
//
//	go run ./examples/write -addr localhost:8080
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
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	c, err := client.New(addr, client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Ten samples of one series, one a second, ending now.
	now := time.Now().UnixMilli()
	s := client.Series{Labels: map[string]string{"__name__": "example_temperature_celsius", "room": "lab"}}
	for i := range 10 {
		s.Samples = append(s.Samples, client.Sample{T: now - int64(9-i)*1000, V: 20 + float64(i)/10})
	}
	if err := c.WriteSeries(ctx, []client.Series{s}); err != nil {
		return fmt.Errorf("remote write: %w", err)
	}

	// The same through line protocol: measurement_field{tags}.
	line := fmt.Sprintf("example_weather,city=paris temperature=12.5,humidity=81 %d", now)
	if err := c.Write(ctx, client.FormatInflux, []byte(line), client.WriteOptions{Precision: "ms"}); err != nil {
		return fmt.Errorf("line protocol: %w", err)
	}
	fmt.Println("wrote 10 samples of example_temperature_celsius and 2 of example_weather_*")
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
