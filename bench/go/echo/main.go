// echo, echop99, accept: Go's goroutine-per-connection echo server on
// loopback (net), driven by the shared load generator (bench/c/echoload.c)
// that it starts as a child process against itself. One program under
// three names (bench/run.sh); the name says what it prints, as for weft's
// twin, bench/c/echo.c:
//   echo     1,000 connections, 512-byte round trips for 2 s: ns per request
//   echop99  the same run: the 99th percentile latency, in us
//   accept   10,000 connections, 50 at a time, one round trip each: ms
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { // EMFILE, as http.Server
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return
		}
		go serve(c)
	}
}

func main() {
	name := filepath.Base(os.Args[0])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	go acceptLoop(ln)
	addr := ln.Addr().String()
	args := []string{"echo", addr, "1000", "512", "2"}
	if name == "accept" {
		args = []string{"accept", addr, "10000", "50", "512"}
	}
	gen := os.Getenv("WEFT_BENCH_LOADGEN")
	if gen == "" {
		gen = filepath.Join(filepath.Dir(os.Args[0]), "..", "echoload")
	}
	cmd := exec.Command(gen, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	var a, b float64
	if n, _ := fmt.Sscanf(string(out), "%g %g", &a, &b); n != 2 || a <= 0 {
		os.Exit(1)
	}
	switch name {
	case "accept":
		fmt.Printf("accept %.1f ms\n", a)
	case "echop99":
		fmt.Printf("echop99 %.1f us\n", b)
	default:
		fmt.Printf("echo %.1f ns/req\n", 1e9/a)
	}
}
