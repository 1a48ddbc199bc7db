// prodcons: 4 producers and 4 consumers move 10,000,000 ints through one
// channel of capacity 128. Prints nanoseconds per item. The sum of all items
// received must be exact.
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	items     = 10000000
	producers = 4
	consumers = 4
	capacity  = 128
)

func main() {
	ch := make(chan int64, capacity)
	var prodWG, consWG sync.WaitGroup
	var total int64
	prodWG.Add(producers)
	consWG.Add(consumers)
	start := time.Now()
	per := int64(items / producers)
	for p := int64(0); p < producers; p++ {
		go func(lo int64) {
			defer prodWG.Done()
			for v := lo; v < lo+per; v++ {
				ch <- v
			}
		}(p * per)
	}
	for c := 0; c < consumers; c++ {
		go func() {
			defer consWG.Done()
			var sum int64
			for v := range ch {
				sum += v
			}
			atomic.AddInt64(&total, sum)
		}()
	}
	prodWG.Wait()
	close(ch)
	consWG.Wait()
	elapsed := time.Since(start)
	want := int64(items) * (items - 1) / 2
	if total != want {
		fmt.Fprintf(os.Stderr, "prodcons: sum %d, want %d\n", total, want)
		os.Exit(1)
	}
	fmt.Printf("prodcons %.1f ns/op\n", float64(elapsed.Nanoseconds())/items)
}
