// pingpong: two goroutines bounce an int over two unbuffered channels,
// 1,000,000 round trips. Prints nanoseconds per round trip.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const rounds = 1000000

func main() {
	ping := make(chan int)
	pong := make(chan int)
	var wg sync.WaitGroup
	var last int
	wg.Add(2)
	start := time.Now()
	go func() { // pinger: sends v, expects v+1 back
		defer wg.Done()
		v := 0
		for i := 0; i < rounds; i++ {
			ping <- v
			v = <-pong
		}
		last = v
	}()
	go func() { // ponger
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			v := <-ping
			pong <- v + 1
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	if last != rounds {
		fmt.Fprintf(os.Stderr, "pingpong: final value %d, want %d\n", last, rounds)
		os.Exit(1)
	}
	fmt.Printf("pingpong %.1f ns/op\n", float64(elapsed.Nanoseconds())/rounds)
}
