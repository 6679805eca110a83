package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "tsdb: the server is not built yet; the storage core is in progress (see README.md)")
	os.Exit(2)
}
