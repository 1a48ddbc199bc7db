// select: one sender round-robins 5,000,000 ints over 4 channels of capacity
// 64; one receiver selects over all 4. Prints nanoseconds per select. The sum
// received must be exact.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	items    = 5000000
	nchans   = 4
	capacity = 64
)

func main() {
	var chans [nchans]chan int64
	for i := range chans {
		chans[i] = make(chan int64, capacity)
	}
	var wg sync.WaitGroup
	var sum int64
	wg.Add(2)
	start := time.Now()
	go func() { // sender
		defer wg.Done()
		for i := int64(0); i < items; i++ {
			chans[i%nchans] <- i
		}
	}()
	go func() { // receiver
		defer wg.Done()
		var s int64
		for i := 0; i < items; i++ {
			select {
			case v := <-chans[0]:
				s += v
			case v := <-chans[1]:
				s += v
			case v := <-chans[2]:
				s += v
			case v := <-chans[3]:
				s += v
			}
		}
		sum = s
	}()
	wg.Wait()
	elapsed := time.Since(start)
	want := int64(items) * (items - 1) / 2
	if sum != want {
		fmt.Fprintf(os.Stderr, "select: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("select %.1f ns/op\n", float64(elapsed.Nanoseconds())/items)
}
