// sieve: the concurrent prime sieve (a chain of filter goroutines over
// unbuffered channels) for the first 5,000 primes. Prints milliseconds in
// total. The last prime must be 48611. The generator and filters are left
// blocked when main returns, as in the classic Go program.
package main

import (
	"fmt"
	"os"
	"time"
)

const nprimes = 5000

func generate(ch chan<- int) {
	for i := 2; ; i++ {
		ch <- i
	}
}

func filter(in <-chan int, out chan<- int, prime int) {
	for {
		i := <-in
		if i%prime != 0 {
			out <- i
		}
	}
}

func main() {
	start := time.Now()
	ch := make(chan int)
	go generate(ch)
	last := 0
	for i := 0; i < nprimes; i++ {
		prime := <-ch
		last = prime
		ch1 := make(chan int)
		go filter(ch, ch1, prime)
		ch = ch1
	}
	elapsed := time.Since(start)
	if last != 48611 {
		fmt.Fprintf(os.Stderr, "sieve: prime #%d is %d, want 48611\n", nprimes, last)
		os.Exit(1)
	}
	fmt.Printf("sieve %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
}
