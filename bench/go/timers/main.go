// timers: 100,000 goroutines each wait (1 + i%10) ms in a select on a timer
// (the other case, a quit channel, never fires); then main waits for all.
// Prints milliseconds in total, from the first spawn to the last exit.
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const n = 100000

func main() {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	var fired int64
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		d := time.Duration(1+i%10) * time.Millisecond
		go func() {
			defer wg.Done()
			t := time.NewTimer(d)
			select {
			case <-t.C:
				atomic.AddInt64(&fired, 1)
			case <-quit:
				t.Stop()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if fired != n || elapsed < 10*time.Millisecond {
		fmt.Fprintf(os.Stderr, "timers: %d of %d fired in %v\n", fired, n, elapsed)
		os.Exit(1)
	}
	fmt.Printf("timers %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
}
