package main

import (
	"context"
	"fmt"
	"testing"
)

func TestSamePrefixGoesToTheSameReplica(t *testing.T) {
	p, _ := testPool(t, testConfig(), "a:1", "b:1", "c:1", "d:1")
	for k := 0; k < 50; k++ {
		key := fmt.Sprintf("system prompt %d", k)
		first, _ := p.Acquire(context.Background(), key)
		first.Release()
		again, _ := p.Acquire(context.Background(), key)
		again.Release()
		if first.Addr() != again.Addr() {
			t.Fatalf("key %q went to %s, then %s", key, first.Addr(), again.Addr())
		}
	}
}

func TestPrefixesSpreadOverReplicas(t *testing.T) {
	p, _ := testPool(t, testConfig(), "a:1", "b:1", "c:1", "d:1")
	count := map[string]int{}
	for k := 0; k < 4000; k++ {
		l, _ := p.Acquire(context.Background(), fmt.Sprintf("conversation %d", k))
		count[l.Addr()]++
		l.Release()
	}
	for addr, n := range count {
		if n < 500 || n > 1500 { // each owns about a quarter of the ring: far from none or all
			t.Errorf("%s got %d of 4000 keys: %v", addr, n, count)
		}
	}
}

func TestAHotPrefixSpillsOverAtTheLoadBound(t *testing.T) {
	cfg := testConfig()
	cfg.AffinityLoadBound = 1.25
	p, _ := testPool(t, cfg, "a:1", "b:1", "c:1", "d:1")
	for i := 0; i < 100; i++ {
		if _, err := p.Acquire(context.Background(), "the same system prompt"); err != nil {
			t.Fatal(err)
		}
		inFlight, _ := p.Snapshot()
		total := 0
		for _, n := range inFlight {
			total += n
		}
		for addr, n := range inFlight {
			if bound := boundedLoad(total-1, 4, 1.25); n > bound {
				t.Fatalf("after %d requests %s has %d in flight, over the bound %d", total, addr, n, bound)
			}
		}
	}
}

func TestBoundedLoadLeavesRoomOnTheLeastLoaded(t *testing.T) {
	for total := 0; total < 200; total++ {
		for n := 1; n < 20; n++ {
			if boundedLoad(total, n, 1) < (total+n)/n {
				t.Fatalf("bound %d with %d in flight on %d replicas leaves none a slot", boundedLoad(total, n, 1), total, n)
			}
		}
	}
}
