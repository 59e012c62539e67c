// sieve — W5 in Go, the counterpart of weft's examples/sieve.cpp.
//
// A generator goroutine sends 2, 3, 4, ... on an unbuffered channel. Main
// receives a prime p from the head of the chain, starts a filter goroutine
// that copies the chain's values except multiples of p onto a new
// unbuffered channel, and makes that channel the new head — n times. This is
// the program from the Go tour, plus the same clean shutdown as sieve.cpp:
//  1. main sets `stop` and drains the head channel;
//  2. the generator checks `stop` before each send; seeing it, it closes its
//     channel and exits;
//  3. each filter's range loop ends when its input is closed; it closes its
//     output and exits, so the closes cascade down the chain;
//  4. main's drain ends when the head channel closes; a WaitGroup then
//     confirms that the generator and every filter have returned.
//
// The channels carry int32, the C++ int.
//
// Check: the primes equal those of a sequential sieve of Eratosthenes, and
// for n = 5000 the last one is 48611. The timing window (wall_ms) runs from
// starting the generator to receiving the n-th prime; shutdown is timed
// separately (shutdown_ms). See docs/BENCHMARKS.md, W5.
//
// JSON: workload, runtime, procs, n, last_prime, wall_ms, shutdown_ms.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"weftbench/internal/bench"
)

const shown = 5 // primes shown at each end unless --print-all

// sequentialPrimes returns the first n primes by a sequential sieve of
// Eratosthenes. For n >= 6 the n-th prime is below n (ln n + ln ln n).
func sequentialPrimes(n int) []int32 {
	limit := 13
	if n >= 6 {
		x := float64(n)
		limit = int(x*(math.Log(x)+math.Log(math.Log(x)))) + 1
	}
	composite := make([]bool, limit+1)
	var primes []int32
	for i := 2; i <= limit && len(primes) < n; i++ {
		if composite[i] {
			continue
		}
		primes = append(primes, int32(i))
		for j := i * i; j <= limit; j += i {
			composite[j] = true
		}
	}
	return primes
}

func printPrimes(primes []int32, all bool) {
	if all {
		for _, p := range primes {
			fmt.Println(p)
		}
		return
	}
	var line strings.Builder
	for i, p := range primes {
		head, tail := i < shown, i+shown >= len(primes)
		if head || tail {
			fmt.Fprintf(&line, " %d", p)
		} else if i == shown {
			line.WriteString(" ...")
		}
	}
	fmt.Printf("sieve: first %d primes:%s\n", len(primes), line.String())
}

func main() {
	n := bench.Int64("n", 5000, 1, 100_000, "primes to find")
	procs := bench.Procs(0)
	printAll := flag.Bool("print-all", false, "print every prime, one per line")
	bench.Parse()
	bench.SetProcs(*procs)

	var stop atomic.Bool
	var wg sync.WaitGroup
	primes := make([]int32, 0, *n)

	start := time.Now()
	head := make(chan int32)
	wg.Add(1)
	go func(out chan<- int32) {
		for i := int32(2); !stop.Load(); i++ {
			out <- i
		}
		close(out)
		wg.Done()
	}(head)
	for k := int64(0); k < *n; k++ {
		prime, ok := <-head
		if !ok {
			fmt.Fprintf(os.Stderr, "sieve: FAILED: the chain closed after %d primes\n", k)
			os.Exit(1)
		}
		primes = append(primes, prime)
		next := make(chan int32)
		wg.Add(1)
		go func(in <-chan int32, out chan<- int32, p int32) {
			for v := range in {
				if v%p != 0 {
					out <- v
				}
			}
			close(out)
			wg.Done()
		}(head, next, prime)
		head = next
	}
	wallMs := bench.MsSince(start)

	shutdown := time.Now()
	stop.Store(true)
	drained := 0
	for range head {
		drained++
	}
	wg.Wait()
	shutdownMs := bench.MsSince(shutdown)

	printPrimes(primes, *printAll)
	expected := sequentialPrimes(int(*n))
	for i := range expected {
		if primes[i] != expected[i] {
			fmt.Fprintf(os.Stderr, "sieve: FAILED: prime #%d is %d, expected %d\n", i+1, primes[i], expected[i])
			os.Exit(1)
		}
	}
	last := primes[len(primes)-1]
	if *n == 5000 && last != 48611 {
		fmt.Fprintf(os.Stderr, "sieve: FAILED: the 5000th prime is %d, expected 48611\n", last)
		os.Exit(1)
	}
	fmt.Printf("sieve: %d primes on %d Ps in %.1f ms, last %d (checked); shutdown of %d goroutines in %.1f ms "+
		"(%d in-flight values drained)\n", *n, runtime.GOMAXPROCS(0), wallMs, last, *n+1, shutdownMs, drained)
	bench.JSONLine("sieve",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("n", *n),
		bench.KV("last_prime", last),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("shutdown_ms", bench.Fixed(shutdownMs, 3)))
}
