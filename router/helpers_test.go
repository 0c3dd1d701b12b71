package main

import (
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func testConfig() Config {
	return Config{Routing: RoutingLeastInFlight, AffinityPrefix: 256, AffinityLoadBound: 1.25, MaxHeld: 10,
		MaxHold: time.Hour, RetryAfter: 5 * time.Second, MaxBodyBytes: 1 << 20, DNSRefresh: time.Second}
}

func testPool(t *testing.T, cfg Config, addrs ...string) (*Pool, *Metrics) {
	t.Helper()
	m := newMetrics(prometheus.NewRegistry())
	p := newPool(cfg, m)
	p.Update(addrs)
	return p, m
}

// eventually waits for a condition another goroutine makes true. It is a rendezvous, not a timing claim:
// the limit is only there so a broken router fails the test instead of hanging it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func held(p *Pool) int {
	_, h := p.Snapshot()
	return h
}
