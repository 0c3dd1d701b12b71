package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLeastInFlightPicksTheLeastLoaded(t *testing.T) {
	p, _ := testPool(t, testConfig(), "a:1", "b:1", "c:1")
	var leases []*Lease
	for i := 0; i < 6; i++ {
		l, err := p.Acquire(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	inFlight, _ := p.Snapshot()
	for addr, n := range inFlight {
		if n != 2 {
			t.Errorf("%s has %d in flight, want 2 each: %v", addr, n, inFlight)
		}
	}
	// Free two on b: the next two go there.
	for _, l := range leases {
		if l.Addr() == "b:1" {
			l.Release()
		}
	}
	for i := 0; i < 2; i++ {
		l, _ := p.Acquire(context.Background(), "")
		if l.Addr() != "b:1" {
			t.Errorf("pick %d went to %s, want the idle b:1", i, l.Addr())
		}
	}
}

func TestReleaseTwiceCountsOnce(t *testing.T) {
	p, _ := testPool(t, testConfig(), "a:1")
	l, _ := p.Acquire(context.Background(), "")
	l.Release()
	l.Release()
	if inFlight, _ := p.Snapshot(); inFlight["a:1"] != 0 {
		t.Fatalf("in flight %d after one request, want 0", inFlight["a:1"])
	}
}

func TestHeldRequestIsRoutedWhenAReplicaTurnsReady(t *testing.T) {
	p, m := testPool(t, testConfig())
	got := make(chan *Lease)
	go func() {
		l, err := p.Acquire(context.Background(), "")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	eventually(t, "the request is held", func() bool { return held(p) == 1 })
	if v := testutil.ToFloat64(m.Held); v != 1 {
		t.Errorf("held gauge %v, want 1", v)
	}
	p.Update([]string{"a:1"})
	if l := <-got; l.Addr() != "a:1" {
		t.Errorf("routed to %s", l.Addr())
	}
	if v := testutil.ToFloat64(m.Held); v != 0 {
		t.Errorf("held gauge %v after routing, want 0", v)
	}
	if n := testutil.CollectAndCount(m.HoldTime); n != 1 {
		t.Errorf("hold histogram has %d series", n)
	}
}

func TestHoldQueueIsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHeld = 1
	p, _ := testPool(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _ = p.Acquire(ctx, "") }()
	eventually(t, "the first request is held", func() bool { return held(p) == 1 })
	if _, err := p.Acquire(context.Background(), ""); !errors.Is(err, errQueueFull) {
		t.Fatalf("second request: %v, want errQueueFull", err)
	}
}

func TestHoldWaitIsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHold = time.Millisecond
	p, _ := testPool(t, cfg)
	if _, err := p.Acquire(context.Background(), ""); !errors.Is(err, errHoldTimeout) {
		t.Fatalf("got %v, want errHoldTimeout", err)
	}
	if held(p) != 0 {
		t.Fatal("a refused request is still counted as held")
	}
}

func TestClientGoneEndsTheHold(t *testing.T) {
	p, _ := testPool(t, testConfig())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Acquire(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestDepartedReplicaFinishesItsRequestsAndTakesNoMore(t *testing.T) {
	p, m := testPool(t, testConfig(), "a:1", "b:1")
	var onA *Lease
	for onA == nil {
		l, _ := p.Acquire(context.Background(), "")
		if l.Addr() == "a:1" {
			onA = l
		}
	}
	p.Update([]string{"b:1"})
	for i := 0; i < 5; i++ {
		if l, _ := p.Acquire(context.Background(), ""); l.Addr() != "b:1" {
			t.Fatalf("a departed replica got a new request")
		}
	}
	if v := testutil.ToFloat64(m.InFlight.WithLabelValues("a:1")); v != 1 {
		t.Errorf("a:1's request in flight not reported while it drains: %v", v)
	}
	onA.Release()
	if n := testutil.CollectAndCount(m.InFlight); n != 1 {
		t.Errorf("%d in-flight series after a:1 drained, want b:1's only", n)
	}
}

func TestRemovedReplicaComesBackWithTheNextUpdate(t *testing.T) {
	p, _ := testPool(t, testConfig(), "a:1", "b:1")
	p.Remove("a:1")
	if inFlight, _ := p.Snapshot(); len(inFlight) != 1 {
		t.Fatalf("ready after Remove: %v", inFlight)
	}
	p.Update([]string{"a:1", "b:1"})
	if inFlight, _ := p.Snapshot(); len(inFlight) != 2 {
		t.Fatalf("ready after Update: %v", inFlight)
	}
}
