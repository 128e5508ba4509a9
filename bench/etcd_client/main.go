// etcd-quorum-client: the etcd side of bench/coordinator_quorum_bench.py, with the same modes
// and output as tributary-quorum-client (bench/quorum_client.cc). A write is a put of a value
// of --size bytes to the client's own key, done when etcd answers: committed by a quorum and
// applied, each member's WAL fsynced (etcd's default). etcdctl in a loop would time process
// start-up, not the put; Debian's etcd packages ship no benchmark tool.
//
//	etcd-quorum-client latency    --endpoints http://H:P,... --size 100 --writes 1000
//	etcd-quorum-client throughput --endpoints ... --size 100 --clients 16 --seconds 10
//	etcd-quorum-client stream     --endpoints ... --size 100 --seconds 15 --gap-ms 50 --attempt-ms 250
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

type options struct {
	endpoints []string
	size      int
	writes    int
	warmup    int
	clients   int
	seconds   float64
	gapMs     int64
	attemptMs int64
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "etcd-quorum-client: "+format+"\n", args...)
	os.Exit(1)
}

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func newClient(o *options) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   o.endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		fail("connect: %v", err)
	}
	return c
}

// The value of write n: its number zero-padded to the size, as the Tributary client writes.
func value(size int, n int) string {
	s := fmt.Sprint(86400000 + n)
	if len(s) >= size {
		return s
	}
	return strings.Repeat("0", size-len(s)) + s
}

func put(c *clientv3.Client, key string, size int, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := c.Put(ctx, key, value(size, n))
	return err
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func latency(o *options) {
	c := newClient(o)
	defer c.Close()
	samples := make([]float64, 0, o.writes)
	for i := 0; i < o.warmup+o.writes; i++ {
		t0 := time.Now()
		if err := put(c, "quorum-bench/0", o.size, i, 5*time.Second); err != nil {
			fail("write %d: %v", i, err)
		}
		if i >= o.warmup {
			samples = append(samples, ms(time.Since(t0)))
		}
	}
	sort.Float64s(samples)
	sum := 0.0
	for _, s := range samples {
		sum += s
	}
	emit(map[string]any{"mode": "latency", "size": o.size, "writes": len(samples),
		"mean_ms": sum / float64(len(samples)), "p50_ms": percentile(samples, 0.5),
		"p99_ms": percentile(samples, 0.99), "max_ms": samples[len(samples)-1]})
}

func throughput(o *options) {
	var mu sync.Mutex
	var samples []float64
	done, errors := 0, 0
	firstError := ""
	// Every client connects and writes once before the clock starts.
	start := time.Now().Add(2*time.Second + time.Duration(o.clients)*20*time.Millisecond)
	end := start.Add(time.Duration(o.seconds * float64(time.Second)))
	var wg sync.WaitGroup
	for k := 0; k < o.clients; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			c := newClient(o)
			defer c.Close()
			key := fmt.Sprintf("quorum-bench/%d", k)
			_ = put(c, key, o.size, 0, 5*time.Second)
			time.Sleep(time.Until(start))
			for n := 1; time.Now().Before(end); n++ {
				t0 := time.Now()
				err := put(c, key, o.size, n, 5*time.Second)
				t1 := time.Now()
				if t1.After(end) {
					break
				}
				mu.Lock()
				if err == nil {
					done++
					samples = append(samples, ms(t1.Sub(t0)))
				} else {
					if errors == 0 {
						firstError = err.Error()
					}
					errors++
				}
				mu.Unlock()
			}
		}(k)
	}
	wg.Wait()
	sort.Float64s(samples)
	emit(map[string]any{"mode": "throughput", "size": o.size, "clients": o.clients, "seconds": o.seconds,
		"writes": done, "writes_per_s": float64(done) / o.seconds, "errors": errors,
		"p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99)})
	if errors > 0 {
		fail("%d failed writes, the first: %s", errors, firstError)
	}
}

func stream(o *options) {
	c := newClient(o)
	defer c.Close()
	end := time.Now().Add(time.Duration(o.seconds * float64(time.Second)))
	var lastOK int64
	writes, failures := 0, 0
	for n := 0; time.Now().Before(end); n++ {
		err := put(c, "quorum-bench/0", o.size, n, time.Duration(o.attemptMs)*time.Millisecond)
		now := time.Now().UnixNano()
		if err != nil {
			failures++
			continue
		}
		writes++
		if writes == 1 {
			emit(map[string]any{"event": "first", "at_ns": now})
		}
		if lastOK != 0 && now-lastOK > o.gapMs*1000000 {
			emit(map[string]any{"event": "gap", "from_ns": lastOK, "to_ns": now})
		}
		lastOK = now
	}
	emit(map[string]any{"event": "end", "writes": writes, "failed_attempts": failures, "last_ns": lastOK})
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: etcd-quorum-client latency|throughput|stream --endpoints URL[,URL...] [flags]")
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	endpoints := fs.String("endpoints", "", "comma-separated client URLs")
	o := &options{}
	fs.IntVar(&o.size, "size", 100, "value bytes")
	fs.IntVar(&o.writes, "writes", 1000, "measured writes (latency)")
	fs.IntVar(&o.warmup, "warmup", 50, "writes before measuring (latency)")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients (throughput)")
	fs.Float64Var(&o.seconds, "seconds", 10, "duration (throughput, stream)")
	fs.Int64Var(&o.gapMs, "gap-ms", 50, "report pauses longer than this (stream)")
	fs.Int64Var(&o.attemptMs, "attempt-ms", 250, "deadline of one attempt, retried at once after (stream)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail("%v", err)
	}
	if *endpoints == "" {
		fail("--endpoints is required")
	}
	if o.size < 16 || o.writes < 1 || o.clients < 1 || o.seconds <= 0 || o.attemptMs < 1 {
		fail("--size must be at least 16, --writes, --clients, --seconds and --attempt-ms positive")
	}
	o.endpoints = strings.Split(*endpoints, ",")
	switch mode {
	case "latency":
		latency(o)
	case "throughput":
		throughput(o)
	case "stream":
		stream(o)
	default:
		fail("unknown mode %q", mode)
	}
}
