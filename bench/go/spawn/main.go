// spawn: start 1,000,000 goroutines, each of which only calls wg.Done(),
// then wait for all. Prints nanoseconds per goroutine.
//
// The spawning loop runs in main, which in Go is itself a goroutine; the C
// twin (bench/c/spawn.c) runs the same loop in one driver goroutine.
package main

import (
	"fmt"
	"sync"
	"time"
)

const n = 1000000

func main() {
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("spawn %.1f ns/op\n", float64(elapsed.Nanoseconds())/n)
}
