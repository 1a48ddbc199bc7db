// mutex: 8 goroutines make 10,000,000 lock/increment/unlock steps on one
// sync.Mutex (1,250,000 each). Prints nanoseconds per step. The total must be
// exact.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	steps   = 10000000
	workers = 8
)

func main() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	wg.Add(workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for i := 0; i < steps/workers; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if counter != steps {
		fmt.Fprintf(os.Stderr, "mutex: total %d, want %d\n", counter, steps)
		os.Exit(1)
	}
	fmt.Printf("mutex %.1f ns/op\n", float64(elapsed.Nanoseconds())/steps)
}
