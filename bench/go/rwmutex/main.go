// rwmutex: 8 goroutines make 10,000,000 operations on one sync.RWMutex
// (1,250,000 each). Every 100th operation of each goroutine is a write
// (Lock, increment both fields of a small shared struct, Unlock); the rest
// are reads (RLock, compare the two fields, RUnlock). Prints nanoseconds per
// operation. The write count (100,000) must be exact and no read may see the
// two fields differ.
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	ops        = 10000000
	workers    = 8
	writeEvery = 100
)

func main() {
	var mu sync.RWMutex
	var shared struct{ a, b int }
	var torn int64
	var wg sync.WaitGroup
	wg.Add(workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			bad := int64(0)
			for i := 0; i < ops/workers; i++ {
				if i%writeEvery == 0 {
					mu.Lock()
					shared.a++
					shared.b++
					mu.Unlock()
				} else {
					mu.RLock()
					if shared.a != shared.b {
						bad++
					}
					mu.RUnlock()
				}
			}
			atomic.AddInt64(&torn, bad)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	writes := ops / writeEvery
	if shared.a != writes || shared.b != writes || torn != 0 {
		fmt.Fprintf(os.Stderr, "rwmutex: %d and %d writes, want %d; %d torn reads\n",
			shared.a, shared.b, writes, torn)
		os.Exit(1)
	}
	fmt.Printf("rwmutex %.1f ns/op\n", float64(elapsed.Nanoseconds())/ops)
}
