// httpd — W8 in Go, the counterpart of weft's examples/httpd.cpp: a
// net/http server answering GET / (and HEAD) with 200 text/plain
// "Hello, World!", 404 for other paths and 405 for other methods, with
// the same defences examples/httpd sets: a header deadline of 10 s
// (ReadHeaderTimeout), a write deadline of 30 s, an idle timeout of 60 s.
// Runs until SIGINT/SIGTERM, then shuts down (5 s grace) and prints its
// JSON line. With -tls-cert and -tls-key it serves HTTPS (crypto/tls, its
// defaults: TLS 1.2 and 1.3, HTTP/1.1 only as weft's httpd, so h2 is
// switched off). See docs/BENCHMARKS.md, W8.
//
// JSON: workload, runtime, procs, requests, user_s, sys_s, cpu_s,
// requests_per_cpu_s, wall_ms, peak_rss_kb.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"weftbench/internal/bench"
)

func seconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "where to listen, HOST:PORT")
	tlsCert := flag.String("tls-cert", "", "PEM certificate chain: serve HTTPS (with -tls-key)")
	tlsKey := flag.String("tls-key", "", "PEM private key for -tls-cert")
	procs := bench.Procs(0)
	bench.Parse()
	bench.SetProcs(*procs)

	var requests atomic.Int64
	hello := []byte("Hello, World!")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path != "/" {
			http.Error(w, "Not Found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "13")
		if r.Method == http.MethodGet {
			w.Write(hello)
		}
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "httpd: --addr %s: %v\n", *addr, err)
		os.Exit(2)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	scheme := "http"
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintf(os.Stderr, "httpd: -tls-cert and -tls-key go together\n")
		os.Exit(2)
	}
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintf(os.Stderr, "httpd: %v\n", err)
			os.Exit(2)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){} // no h2
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	fmt.Printf("httpd: listening on %s://%s/ with %d Ps; SIGINT or SIGTERM stops\n", scheme, ln.Addr(), runtime.GOMAXPROCS(0))
	start := time.Now()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "httpd: %v\n", err)
		os.Exit(1)
	}
	wallMs := bench.MsSince(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	user, sys := seconds(ru.Utime), seconds(ru.Stime)
	cpu := user + sys
	perCPU := 0.0
	if cpu > 0 {
		perCPU = float64(requests.Load()) / cpu
	}
	fmt.Printf("httpd: stopped; %d requests; %.2f CPU s (user %.2f, sys %.2f): %.0f requests per CPU second\n",
		requests.Load(), cpu, user, sys, perCPU)
	bench.JSONLine("httpd",
		bench.KV("procs", runtime.GOMAXPROCS(0)),
		bench.KV("requests", requests.Load()),
		bench.KV("user_s", bench.Fixed(user, 3)),
		bench.KV("sys_s", bench.Fixed(sys, 3)),
		bench.KV("cpu_s", bench.Fixed(cpu, 3)),
		bench.KV("requests_per_cpu_s", bench.Fixed(perCPU, 0)),
		bench.KV("wall_ms", bench.Fixed(wallMs, 3)),
		bench.KV("peak_rss_kb", bench.PeakRSSKB()))
}
