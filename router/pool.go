package main

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

var (
	errQueueFull   = errors.New("the hold queue is full")
	errHoldTimeout = errors.New("no replica became ready in time")
)

// endpoint is one replica (pod address). It leaves the pool when its A record goes, but the requests in
// flight on it finish: the lease keeps it until the last one is released.
type endpoint struct {
	addr     string
	inFlight int
	gone     bool
}

// Pool is the set of ready replicas, their requests in flight, and the requests held while there are
// none. One mutex guards it all: each request takes it twice (pick, release), for a few comparisons.
type Pool struct {
	mu       sync.Mutex
	ready    []*endpoint // sorted by address, so picks and the hash ring do not depend on map order
	byAddr   map[string]*endpoint
	ring     *hashRing
	changed  chan struct{} // closed (and replaced) when the ready set changes: wakes held requests
	held     int
	total    int // requests in flight on ready replicas, for the affinity's load bound
	rotation int // where ties in the least-in-flight pick start, so equal replicas share the load

	maxHeld   int
	maxHold   time.Duration
	loadBound float64
	metrics   *Metrics
}

func newPool(cfg Config, m *Metrics) *Pool {
	return &Pool{byAddr: map[string]*endpoint{}, ring: newHashRing(nil), changed: make(chan struct{}),
		maxHeld: cfg.MaxHeld, maxHold: cfg.MaxHold, loadBound: cfg.AffinityLoadBound, metrics: m}
}

// Lease is one request's hold on a replica; Release it when the response is over.
type Lease struct {
	pool *Pool
	ep   *endpoint
	once sync.Once
}

func (l *Lease) Addr() string { return l.ep.addr }

func (l *Lease) Release() { l.once.Do(func() { l.pool.release(l.ep) }) }

// Update replaces the ready set with addrs (from DNS). Replicas that left take no new requests; their
// requests in flight go on (graceful drain: the engine pod finishes them before it exits).
func (p *Pool) Update(addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]*endpoint, len(addrs))
	for _, a := range addrs {
		if ep, ok := p.byAddr[a]; ok {
			next[a] = ep
		} else {
			next[a] = &endpoint{addr: a}
		}
	}
	if sameKeys(next, p.byAddr) {
		return
	}
	for a, ep := range p.byAddr {
		if _, stays := next[a]; !stays {
			ep.gone = true
			p.total -= ep.inFlight
			p.forgetIfIdle(ep)
		}
	}
	p.byAddr = next
	p.ready = p.ready[:0]
	for _, ep := range next {
		p.ready = append(p.ready, ep)
	}
	sort.Slice(p.ready, func(i, j int) bool { return p.ready[i].addr < p.ready[j].addr })
	p.ring = newHashRing(p.ready)
	p.metrics.Endpoints.Set(float64(len(p.ready)))
	close(p.changed)
	p.changed = make(chan struct{})
}

// Acquire leases a replica for one request: at once if one is ready, else after holding the request
// until one is, at most maxHold, with at most maxHeld held at once. key is the affinity key ("" for
// least in flight). ctx ends the hold when the client goes away.
func (p *Pool) Acquire(ctx context.Context, key string) (*Lease, error) {
	p.mu.Lock()
	if ep := p.pickLocked(key); ep != nil {
		p.mu.Unlock()
		return &Lease{pool: p, ep: ep}, nil
	}
	if p.held >= p.maxHeld {
		p.mu.Unlock()
		return nil, errQueueFull
	}
	p.held++
	p.metrics.Held.Inc()
	wake := p.changed
	p.mu.Unlock()

	start := time.Now()
	timer := time.NewTimer(p.maxHold)
	defer timer.Stop()
	defer func() {
		p.mu.Lock()
		p.held--
		p.mu.Unlock()
		p.metrics.Held.Dec()
		p.metrics.HoldTime.Observe(time.Since(start).Seconds())
	}()
	for {
		select {
		case <-wake:
			p.mu.Lock()
			ep := p.pickLocked(key)
			wake = p.changed
			p.mu.Unlock()
			if ep != nil {
				return &Lease{pool: p, ep: ep}, nil
			}
		case <-timer.C:
			return nil, errHoldTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pickLocked chooses a ready replica and counts the request on it, or returns nil if none is ready.
func (p *Pool) pickLocked(key string) *endpoint {
	if len(p.ready) == 0 {
		return nil
	}
	var ep *endpoint
	if key != "" {
		ep = p.ring.pick(key, boundedLoad(p.total, len(p.ready), p.loadBound))
	} else {
		ep = p.leastInFlight()
	}
	ep.inFlight++
	p.total++
	p.metrics.InFlight.WithLabelValues(ep.addr).Set(float64(ep.inFlight))
	p.metrics.Routed.WithLabelValues(ep.addr).Inc()
	return ep
}

// leastInFlight is the ready replica with the fewest requests in flight; ties go round, not to the first.
func (p *Pool) leastInFlight() *endpoint {
	p.rotation++
	n := len(p.ready)
	best := p.ready[p.rotation%n]
	for i := 1; i < n; i++ {
		if ep := p.ready[(p.rotation+i)%n]; ep.inFlight < best.inFlight {
			best = ep
		}
	}
	return best
}

func (p *Pool) release(ep *endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep.inFlight--
	if ep.gone {
		p.forgetIfIdle(ep)
		return
	}
	p.total--
	p.metrics.InFlight.WithLabelValues(ep.addr).Set(float64(ep.inFlight))
}

// forgetIfIdle drops a departed replica's series once its last request is over, so pods that come and go
// do not pile up label values.
func (p *Pool) forgetIfIdle(ep *endpoint) {
	if _, back := p.byAddr[ep.addr]; back {
		return // the same address is ready again, as a new endpoint that owns the series now
	}
	if ep.inFlight > 0 {
		p.metrics.InFlight.WithLabelValues(ep.addr).Set(float64(ep.inFlight))
		return
	}
	p.metrics.InFlight.DeleteLabelValues(ep.addr)
	p.metrics.Routed.DeleteLabelValues(ep.addr)
}

// Snapshot reports each ready replica's requests in flight and the held count (tests, /debug).
func (p *Pool) Snapshot() (inFlight map[string]int, held int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	inFlight = make(map[string]int, len(p.ready))
	for _, ep := range p.ready {
		inFlight[ep.addr] = ep.inFlight
	}
	return inFlight, p.held
}

func sameKeys(a, b map[string]*endpoint) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// Remove takes one replica out of the ready set (its connection was refused) until the next Update.
func (p *Pool) Remove(addr string) {
	p.mu.Lock()
	addrs := make([]string, 0, len(p.ready))
	for _, ep := range p.ready {
		if ep.addr != addr {
			addrs = append(addrs, ep.addr)
		}
	}
	p.mu.Unlock()
	p.Update(addrs)
}
