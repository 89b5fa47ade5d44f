// Command gencss writes the chroma stylesheet for highlighted lesson code
// (lessons.ChromaCSS) to a file; `go generate ./server` runs it, and a server
// test fails when the committed file is out of date.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/crossroads-learn/crossroads/lessons"
)

func main() {
	out := flag.String("o", "", "output file")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gencss: -o FILE is required")
		os.Exit(2)
	}
	css, err := lessons.ChromaCSS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencss:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, css, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gencss:", err)
		os.Exit(1)
	}
}
