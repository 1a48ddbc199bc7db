// syscallpair: the cost of Go's entersyscall/exitsyscall around a call
// that does not block (getppid): syscall.Syscall over syscall.RawSyscall,
// 10,000,000 of each, the best of 3. Prints ns per pair.
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

const (
	n      = 10000000
	rounds = 3
)

var sink uintptr

func run(bracket bool) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		var r uintptr
		if bracket {
			r, _, _ = syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0)
		} else {
			r, _, _ = syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
		sink += r
	}
	return time.Since(start)
}

func main() {
	bare, with := time.Duration(1<<62), time.Duration(1<<62)
	for r := 0; r < rounds; r++ {
		if t := run(false); t < bare {
			bare = t
		}
		if t := run(true); t < with {
			with = t
		}
	}
	if sink == 0 {
		os.Exit(1)
	}
	ns := float64(with-bare) / n
	if ns < 0 {
		ns = 0
	}
	fmt.Printf("syscallpair %.1f ns/op\n", ns)
}
