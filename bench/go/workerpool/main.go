// workerpool: 8 workers square 5,000,000 jobs taken from a capacity-128 jobs
// channel into a capacity-128 results channel; a collector sums them. Prints
// nanoseconds per job. The sum (of 0^2 .. (n-1)^2, modulo 2^64) must be
// exact.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	jobs     = 5000000
	workers  = 8
	capacity = 128
)

func main() {
	var want uint64
	for i := uint64(0); i < jobs; i++ {
		want += i * i
	}

	jobCh := make(chan uint64, capacity)
	resCh := make(chan uint64, capacity)
	var workWG sync.WaitGroup
	var sum uint64
	collected := make(chan struct{})
	workWG.Add(workers)
	start := time.Now()
	go func() { // feeder
		for i := uint64(0); i < jobs; i++ {
			jobCh <- i
		}
		close(jobCh)
	}()
	for w := 0; w < workers; w++ {
		go func() {
			defer workWG.Done()
			for j := range jobCh {
				resCh <- j * j
			}
		}()
	}
	go func() { // collector
		var s uint64
		for r := range resCh {
			s += r
		}
		sum = s
		close(collected)
	}()
	workWG.Wait()
	close(resCh)
	<-collected
	elapsed := time.Since(start)
	if sum != want {
		fmt.Fprintf(os.Stderr, "workerpool: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("workerpool %.1f ns/op\n", float64(elapsed.Nanoseconds())/jobs)
}
