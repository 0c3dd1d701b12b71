package main

import (
	"context"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeResolver answers what the test last set: the A records of a headless Service, or an error.
type fakeResolver struct {
	mu    sync.Mutex
	ips   []net.IP
	err   error
	asked []string
}

func (f *fakeResolver) set(err error, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips, f.err = nil, err
	for _, ip := range ips {
		f.ips = append(f.ips, net.ParseIP(ip))
	}
}

func (f *fakeResolver) LookupIP(_ context.Context, network, host string) ([]net.IP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, network+" "+host)
	return f.ips, f.err
}

func ready(p *Pool) []string {
	inFlight, _ := p.Snapshot()
	var addrs []string
	for a := range inFlight {
		addrs = append(addrs, a)
	}
	if len(addrs) > 1 && addrs[0] > addrs[1] {
		addrs[0], addrs[1] = addrs[1], addrs[0]
	}
	return addrs
}

func TestRefreshFollowsTheARecords(t *testing.T) {
	p, m := testPool(t, testConfig())
	r := &fakeResolver{}
	r.set(nil, "10.0.0.2", "10.0.0.1")
	refresh(context.Background(), r, "mixtral-engines.llm.svc", 8000, testConfig().DNSRefresh, p, m)
	if got := ready(p); !reflect.DeepEqual(got, []string{"10.0.0.1:8000", "10.0.0.2:8000"}) {
		t.Fatalf("ready %v", got)
	}
	if r.asked[0] != "ip4 mixtral-engines.llm.svc" {
		t.Errorf("asked %v", r.asked)
	}
	if v := testutil.ToFloat64(m.Endpoints); v != 2 {
		t.Errorf("ready_replicas %v", v)
	}
}

func TestNoRecordsIsAFleetWithNoReadyReplica(t *testing.T) {
	p, m := testPool(t, testConfig(), "10.0.0.1:8000")
	r := &fakeResolver{}
	r.set(&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true})
	refresh(context.Background(), r, "x", 8000, testConfig().DNSRefresh, p, m)
	if got := ready(p); len(got) != 0 {
		t.Fatalf("ready %v, want none", got)
	}
	if v := testutil.ToFloat64(m.DNSErrors); v != 0 {
		t.Errorf("a missing name counted as an error")
	}
}

func TestAFailedLookupKeepsTheLastSet(t *testing.T) {
	p, m := testPool(t, testConfig(), "10.0.0.1:8000")
	r := &fakeResolver{}
	r.set(&net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true})
	refresh(context.Background(), r, "x", 8000, testConfig().DNSRefresh, p, m)
	r.set(errors.New("i/o timeout"))
	refresh(context.Background(), r, "x", 8000, testConfig().DNSRefresh, p, m)
	if got := ready(p); !reflect.DeepEqual(got, []string{"10.0.0.1:8000"}) {
		t.Fatalf("ready %v, want the last set", got)
	}
	if v := testutil.ToFloat64(m.DNSErrors); v != 2 {
		t.Errorf("discovery_errors_total %v", v)
	}
}
