// parked: 1,000,000 goroutines parked on one channel. Prints the growth of
// the resident set (from /proc/self/statm) per goroutine, in bytes.
//
// Each goroutine bumps a counter just before it blocks on the channel; main
// waits until the counter reaches n, sleeps 100 ms so that the last ones are
// really parked, reads statm, then closes the channel and waits for all of
// them to exit.
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const n = 1000000

// rss returns the resident set size in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintf(os.Stderr, "parked: %v\n", err)
		os.Exit(1)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		fmt.Fprintf(os.Stderr, "parked: parse /proc/self/statm: %v\n", err)
		os.Exit(1)
	}
	return resident * int64(os.Getpagesize())
}

func main() {
	gate := make(chan struct{})
	var parked int64
	var exited sync.WaitGroup
	before := rss()
	exited.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&parked, 1)
			<-gate
			exited.Done()
		}()
	}
	for atomic.LoadInt64(&parked) < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	after := rss()
	close(gate)
	exited.Wait()
	fmt.Printf("parked %.0f B/goroutine\n", float64(after-before)/n)
}
