// syscall: 4 goroutines compute (64 chunks of busy arithmetic each, with a
// Gosched between chunks) while 64 others sit in 1 ms blocking calls
// (syscall.Nanosleep, through entersyscall) until the compute is done.
// Prints the slowdown: the compute's time with the blocked ones over its
// time alone. The best of 3 of each.
//
// Built under two names (bench/run.sh): syscall and syscallraw, the twin
// of weft's raw form. Go has no raw form (every call goes through
// entersyscall), so both run the same program and print the name they
// were built as.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	workers    = 4
	chunks     = 64
	blocked    = 64
	rounds     = 3
	chunkIters = 200000
)

var sink uint64

func compute() time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(workers)
	for i := 0; i < workers; i++ {
		go func(x uint64) {
			defer wg.Done()
			for c := 0; c < chunks; c++ {
				for j := 0; j < chunkIters; j++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
				runtime.Gosched()
			}
			atomic.AddUint64(&sink, x)
		}(uint64(i) + 1)
	}
	wg.Wait()
	return time.Since(start)
}

func main() {
	alone, with := time.Duration(1<<62), time.Duration(1<<62)
	for r := 0; r < rounds; r++ {
		if t := compute(); t < alone {
			alone = t
		}
	}
	for r := 0; r < rounds; r++ {
		var stop int32
		var bwg sync.WaitGroup
		bwg.Add(blocked)
		for i := 0; i < blocked; i++ {
			go func() {
				defer bwg.Done()
				ts := syscall.Timespec{Nsec: 1000000}
				for atomic.LoadInt32(&stop) == 0 {
					syscall.Nanosleep(&ts, nil)
				}
			}()
		}
		time.Sleep(5 * time.Millisecond)
		if t := compute(); t < with {
			with = t
		}
		atomic.StoreInt32(&stop, 1)
		bwg.Wait()
	}
	if atomic.LoadUint64(&sink) == 0 {
		os.Exit(1)
	}
	fmt.Printf("%s %.3f x\n", filepath.Base(os.Args[0]), float64(with)/float64(alone))
}
