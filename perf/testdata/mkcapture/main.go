// Command mkcapture writes the first -scrapes whole scrapes of a capture
// that is still being recorded (lines `name{labels} value t_ms`, one
// timestamp per scrape) to a zstd-compressed file: it trusts only the
// scrapes the recorder has finished (one line per scrape in -progress),
// so a scrape half-written at the end is never copied. It made
// perf/testdata/node_exporter_2h.prom.zst (see the README there):
//
//	go run ./perf/testdata/mkcapture -in /work/capture/node_exporter_2h.prom \
//	  -progress /work/capture/progress -scrapes 480 -out perf/testdata/node_exporter_2h.prom.zst
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/klauspost/compress/zstd"
)

func main() {
	in := flag.String("in", "", "capture being recorded")
	progress := flag.String("progress", "", "the recorder's progress file (one line per finished scrape)")
	scrapes := flag.Int("scrapes", 480, "scrapes to copy (at most those finished)")
	out := flag.String("out", "", "zstd output file")
	flag.Parse()
	p, err := os.ReadFile(*progress)
	if err != nil {
		log.Fatal(err)
	}
	want := min(*scrapes, bytes.Count(p, []byte("\n")))
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n, lines := 0, 0
	var last []byte
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			log.Fatalf("line %q: no timestamp", line)
		}
		if ts := line[i+1:]; !bytes.Equal(ts, last) {
			if n == want {
				break
			}
			n++
			last = append(last[:0], ts...)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		lines++
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(zstd.MaxWindowSize))
	if err != nil {
		log.Fatal(err)
	}
	z := enc.EncodeAll(buf.Bytes(), nil)
	if err := os.WriteFile(*out, z, 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d scrapes, %d lines, %d bytes, %d bytes zstd\n", n, lines, buf.Len(), len(z))
}
