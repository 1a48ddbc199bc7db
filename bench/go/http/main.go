// http: Go's net/http with a hello handler, under the shared load
// generator (bench/c/echoload.c, "http" mode), started as a child process
// against it: 1,000 keep-alive connections sending "GET /" for 2 s.
// Prints ns per request. Twin of bench/c/http.c, which runs weft's
// examples/http_hello the same way.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, world\n")
	})
	go http.Serve(ln, nil)
	gen := os.Getenv("WEFT_BENCH_LOADGEN")
	if gen == "" {
		gen = filepath.Join(filepath.Dir(os.Args[0]), "..", "echoload")
	}
	cmd := exec.Command(gen, "http", ln.Addr().String(), "1000", "2")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
	var a, b float64
	if n, _ := fmt.Sscanf(string(out), "%g %g", &a, &b); n != 2 || a <= 0 {
		os.Exit(1)
	}
	fmt.Printf("http %.1f ns/req\n", 1e9/a)
}
