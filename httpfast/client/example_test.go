package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/silverback-tsdb/tsdb/httpfast/client"
)

// Write Prometheus text with timestamps, then list the series.
func ExampleClient_Write() {
	addr, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(addr, client.Options{Gzip: true})
	if err != nil {
		panic(err)
	}
	body := `cpu_usage{host="server1"} 0.85 1700000000000
cpu_usage{host="server2"} 0.42 1700000000000
`
	if err := c.Write(ctx, client.FormatProm, []byte(body), client.WriteOptions{}); err != nil {
		panic(err)
	}
	series, err := c.Series(ctx, []string{"cpu_usage"}, client.Range{})
	if err != nil {
		panic(err)
	}
	for _, s := range series {
		fmt.Println(s["__name__"], s["host"])
	}
	// Output:
	// cpu_usage server1
	// cpu_usage server2
}

// Import a file in batches, then export it again as text exposition.
func ExampleClient_Import() {
	addr, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(addr, client.Options{})
	if err != nil {
		panic(err)
	}
	in := strings.NewReader("weather,city=oslo temp=-3.5 1700000000\nweather,city=rome temp=14 1700000000\n")
	st, err := c.Import(ctx, client.FormatInflux, in, client.ImportOptions{WriteOptions: client.WriteOptions{Precision: "s"}})
	if err != nil {
		panic(err)
	}
	fmt.Println("lines sent:", st.Lines)
	if _, err := c.Export(ctx, os.Stdout, client.ExportProm, []string{`{__name__="weather_temp"}`}, client.Range{}); err != nil {
		panic(err)
	}
	// Output:
	// lines sent: 2
	// weather_temp{city="oslo"} -3.5 1700000000000
	// weather_temp{city="rome"} 14 1700000000000
}

// Errors from the query API say what kind of failure it was.
func ExampleError() {
	addr, stop := exampleServer()
	defer stop()

	c, err := client.New(addr, client.Options{})
	if err != nil {
		panic(err)
	}
	_, err = c.Series(context.Background(), []string{`{job=~".*"}`}, client.Range{})
	var ae *client.Error
	if errors.As(err, &ae) {
		fmt.Println(ae.StatusCode, ae.Type)
	}
	// Output:
	// 400 bad_data
}
