// ring: 1,000 goroutines in a ring of unbuffered channels pass a token 1,000
// times around (1,000,000 hops). Prints nanoseconds per hop.
//
// Goroutine i receives on ring[i] and sends on ring[(i+1)%n]. main injects
// the token into ring[0]; on its last lap the final goroutine hands the token
// to main over a separate channel instead, so only goroutine 0 ever receives
// on ring[0]. Every hop adds 1 to the token.
package main

import (
	"fmt"
	"os"
	"time"
)

const (
	n    = 1000
	laps = 1000
)

func main() {
	var ring [n]chan int
	for i := range ring {
		ring[i] = make(chan int)
	}
	done := make(chan int)
	for i := 0; i < n; i++ {
		go func(i int) {
			in, out := ring[i], ring[(i+1)%n]
			for lap := 0; lap < laps; lap++ {
				v := <-in
				if i == n-1 && lap == laps-1 {
					done <- v + 1
				} else {
					out <- v + 1
				}
			}
		}(i)
	}
	start := time.Now()
	ring[0] <- 0
	v := <-done
	elapsed := time.Since(start)
	if v != n*laps {
		fmt.Fprintf(os.Stderr, "ring: token %d, want %d\n", v, n*laps)
		os.Exit(1)
	}
	fmt.Printf("ring %.1f ns/op\n", float64(elapsed.Nanoseconds())/(n*laps))
}
