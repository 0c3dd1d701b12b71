package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// maxAttempts bounds the replicas one request tries when a connection is refused (a pod that has just
// gone, before the next DNS read says so). A request that reached a replica is never sent again.
const maxAttempts = 3

// Router is the user-facing handler: hold until a replica is ready, pick one, relay the response.
type Router struct {
	cfg     Config
	pool    *Pool
	metrics *Metrics
	proxy   *httputil.ReverseProxy
}

// attempt carries one try's replica into the proxy's Rewrite and its error back out.
type attempt struct {
	addr string
	err  error
}

type attemptKey struct{}

func newRouter(cfg Config, pool *Pool, m *Metrics) *Router {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1024, // streams end all the time: keep their connections for the next ones
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass Accept-Encoding and the body through as they are
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			a := pr.In.Context().Value(attemptKey{}).(*attempt)
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", a.addr, ""
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: newBufferPool(),
		// Negative: flush after every write, so each SSE chunk leaves when it arrives, as it arrived.
		FlushInterval: -1,
		// The handler answers failures itself, after deciding whether another replica may be tried.
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			r.Context().Value(attemptKey{}).(*attempt).err = err
		},
	}
	return &Router{cfg: cfg, pool: pool, metrics: m, proxy: proxy}
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.metrics.Requests.Inc()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rt.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			rt.reject(w, ReasonBodyTooLarge, "the request body is larger than the router's -max-body-bytes")
		}
		return // otherwise the client went away while sending
	}
	key := ""
	if rt.cfg.Routing == RoutingPrefix {
		key = affinityKey(body, rt.cfg.AffinityPrefix)
	}
	for try := 1; ; try++ {
		lease, err := rt.pool.Acquire(r.Context(), key)
		if err != nil {
			rt.refuse(w, err)
			return
		}
		a := rt.relay(w, r, body, lease)
		switch {
		case a.err == nil || r.Context().Err() != nil:
			return
		case isDialError(a.err) && try < maxAttempts:
			rt.pool.Remove(a.addr) // until the next DNS read says otherwise
		default:
			rt.reject(w, ReasonUpstreamError, "the replica "+a.addr+" failed: "+a.err.Error())
			return
		}
	}
}

// relay sends the request to the leased replica and streams its answer back untouched.
func (rt *Router) relay(w http.ResponseWriter, r *http.Request, body []byte, lease *Lease) *attempt {
	defer lease.Release()
	a := &attempt{addr: lease.Addr()}
	out := r.WithContext(context.WithValue(r.Context(), attemptKey{}, a))
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	rt.proxy.ServeHTTP(w, out)
	return a
}

// refuse answers a request that could not be given a replica.
func (rt *Router) refuse(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errQueueFull):
		rt.reject(w, ReasonHoldQueueFull, "no replica is ready and the router holds as many requests as it may")
	case errors.Is(err, errHoldTimeout):
		rt.reject(w, ReasonNoReadyReplica, "no replica became ready within the router's -max-hold")
	default: // the client went away while held: nobody to answer
		rt.metrics.Rejected.WithLabelValues(string(ReasonClientClosed)).Inc()
	}
}

func (rt *Router) reject(w http.ResponseWriter, reason Reason, message string) {
	rt.metrics.Rejected.WithLabelValues(string(reason)).Inc()
	reject(w, reason, message, rt.cfg.RetryAfter)
}

// isDialError is a connection that was never made: the request did not reach the replica.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// copyBufferSize is the buffer each response is relayed through. An SSE chunk is a few hundred bytes; a
// pool of 8 KiB buffers instead of ReverseProxy's own 32 KiB one per response keeps memory per open
// stream and garbage down (a non-streamed answer just takes more reads).
const copyBufferSize = 8 << 10

type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}}
}

func (b *bufferPool) Get() []byte    { return *(b.pool.Get().(*[]byte)) }
func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }
