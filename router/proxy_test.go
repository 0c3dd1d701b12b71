package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// steppedSSE is a fake engine that writes one SSE chunk each time the test asks for one, so the test
// can prove the router relays each chunk before the next exists (flushed, not buffered) without timing.
type steppedSSE struct {
	next chan string
	seen chan *http.Request
}

func newSteppedSSE() *steppedSSE {
	return &steppedSSE{next: make(chan string), seen: make(chan *http.Request, 10)}
}

func (s *steppedSSE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.seen <- r
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for chunk := range s.next {
		_, _ = io.WriteString(w, chunk)
		w.(http.Flusher).Flush()
	}
}

func startRouter(t *testing.T, cfg Config, addrs ...string) (*httptest.Server, *Pool, *Metrics) {
	t.Helper()
	p, m := testPool(t, cfg, addrs...)
	srv := httptest.NewServer(newRouter(cfg, p, m))
	t.Cleanup(srv.Close)
	return srv, p, m
}

func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func TestSSEChunksAreRelayedOneByOneAndUntouched(t *testing.T) {
	engine := newSteppedSSE()
	backend := httptest.NewServer(engine)
	defer backend.Close()
	router, _, _ := startRouter(t, testConfig(), hostOf(backend))

	body := `{"model":"m","prompt":"hi","stream":true}`
	resp, err := http.Post(router.URL+"/v1/completions?x=1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := <-engine.seen
	if got.URL.Path != "/v1/completions" || got.URL.RawQuery != "x=1" {
		t.Errorf("engine saw %s", got.URL)
	}
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	reader := bufio.NewReader(resp.Body)
	chunks := []string{
		"data: {\"choices\":[{\"text\":\" Hello\"}]}\n\n",
		": a comment line, kept\n\n",
		"data: {\"choices\":[{\"text\":\" é\"}]}\n\n",
		"data: [DONE]\n\n",
	}
	for _, chunk := range chunks {
		engine.next <- chunk // the engine writes the next chunk only now: the last must have arrived
		buf := make([]byte, len(chunk))
		if _, err := io.ReadFull(reader, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != chunk {
			t.Fatalf("relayed %q, want %q", buf, chunk)
		}
	}
	close(engine.next)
	if rest, _ := io.ReadAll(reader); len(rest) != 0 {
		t.Errorf("extra bytes %q", rest)
	}
}

func TestRequestBodyAndTGIEndpointsPassThrough(t *testing.T) {
	var gotBody string
	var gotPath string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotPath = string(b), r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity) // the engine's own errors pass through as they are
		_, _ = io.WriteString(w, `{"error":"Input validation error"}`)
	}))
	defer backend.Close()
	router, _, m := startRouter(t, testConfig(), hostOf(backend))
	body := `{"inputs":"What is Deep Learning?","parameters":{"max_new_tokens":20}}`
	resp, err := http.Post(router.URL+"/generate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || string(out) != `{"error":"Input validation error"}` {
		t.Errorf("got %d %s", resp.StatusCode, out)
	}
	if gotBody != body || gotPath != "/generate" {
		t.Errorf("engine got %s %q", gotPath, gotBody)
	}
	if v := testutil.ToFloat64(m.Routed.WithLabelValues(hostOf(backend))); v != 1 {
		t.Errorf("routed_total %v", v)
	}
	if v := testutil.ToFloat64(m.Requests); v != 1 {
		t.Errorf("requests_total %v", v)
	}
}

func decodeReject(t *testing.T, resp *http.Response) errorBody {
	t.Helper()
	var body errorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

func TestFullHoldQueueAnswers429WithRetryAfter(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHeld = 0
	router, _, m := startRouter(t, cfg)
	resp, err := http.Post(router.URL+"/v1/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := decodeReject(t, resp)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "5" || body.Reason != "hold_queue_full" {
		t.Errorf("got %d Retry-After %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if v := testutil.ToFloat64(m.Rejected.WithLabelValues("hold_queue_full")); v != 1 {
		t.Errorf("rejected_total{hold_queue_full} %v", v)
	}
}

func TestHoldTimeoutAnswers503WithTheReason(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHold = 1 // a nanosecond: the outcome, not its timing, is under test
	router, _, m := startRouter(t, cfg)
	resp, err := http.Post(router.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := decodeReject(t, resp)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || body.Reason != "no_ready_replica" ||
		body.Error.Code != 503 {
		t.Errorf("got %d %+v", resp.StatusCode, body)
	}
	if v := testutil.ToFloat64(m.Rejected.WithLabelValues("no_ready_replica")); v != 1 {
		t.Errorf("rejected_total{no_ready_replica} %v", v)
	}
}

func TestHeldRequestIsServedWhenTheFirstReplicaIsReady(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "answer")
	}))
	defer backend.Close()
	router, pool, m := startRouter(t, testConfig())
	done := make(chan string)
	go func() {
		resp, err := http.Post(router.URL+"/v1/completions", "application/json", strings.NewReader(`{}`))
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	eventually(t, "the request is held", func() bool { return testutil.ToFloat64(m.Held) == 1 })
	pool.Update([]string{hostOf(backend)})
	if got := <-done; got != "answer" {
		t.Fatalf("got %q", got)
	}
}

func TestRefusedConnectionTriesAnotherReplica(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	dead := closedAddr(t)
	router, _, m := startRouter(t, testConfig(), dead, hostOf(backend))
	for i := 0; i < 4; i++ {
		resp, err := http.Post(router.URL+"/v1/completions", "application/json", strings.NewReader(`{"p":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if v := testutil.ToFloat64(m.Rejected.WithLabelValues("upstream_error")); v != 0 {
		t.Errorf("upstream_error %v", v)
	}
}

func TestUnreachableOnlyReplicaIsDroppedAndTheRequestHeld(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHold = 1 // after the dead replica is removed, the retry is held, and refused at once
	router, _, _ := startRouter(t, cfg, closedAddr(t))
	resp, err := http.Post(router.URL+"/v1/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := decodeReject(t, resp)
	if resp.StatusCode != 503 || body.Reason != "no_ready_replica" {
		t.Errorf("got %d %+v", resp.StatusCode, body)
	}
}

func TestReplicaFailingMidAnswerIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // the request reached the engine: sending it again could run it twice
	}))
	defer backend.Close()
	router, _, m := startRouter(t, testConfig(), hostOf(backend))
	resp, err := http.Post(router.URL+"/v1/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body := decodeReject(t, resp); resp.StatusCode != 502 || body.Reason != "upstream_error" || calls.Load() != 1 {
		t.Errorf("got %d %+v after %d calls", resp.StatusCode, body, calls.Load())
	}
	if v := testutil.ToFloat64(m.Rejected.WithLabelValues("upstream_error")); v != 1 {
		t.Errorf("upstream_error %v", v)
	}
}

func TestBodyOverTheLimitAnswers413(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBodyBytes = 4
	router, _, _ := startRouter(t, cfg, "127.0.0.1:1")
	resp, err := http.Post(router.URL+"/v1/completions", "application/json", strings.NewReader(`{"long":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body := decodeReject(t, resp); resp.StatusCode != 413 || body.Reason != "body_too_large" {
		t.Errorf("got %d %+v", resp.StatusCode, body)
	}
}

func TestPrefixRoutingSendsAConversationToOneReplica(t *testing.T) {
	hits := map[string]int{}
	var backends []string
	for i := 0; i < 3; i++ {
		name := string(rune('a' + i))
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		defer b.Close()
		backends = append(backends, hostOf(b))
	}
	cfg := testConfig()
	cfg.Routing, cfg.AffinityPrefix = RoutingPrefix, 20
	router, _, _ := startRouter(t, cfg, backends...)
	for turn := 0; turn < 6; turn++ {
		// The same system prompt and first turn, a new last message each time.
		body := `{"messages":[{"role":"system","content":"You answer in French."},{"role":"user","content":"turn ` +
			string(rune('0'+turn)) + `"}]}`
		resp, err := http.Post(router.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		hits[string(b)]++
	}
	if len(hits) != 1 {
		t.Errorf("one conversation went to %d replicas: %v", len(hits), hits)
	}
}

// closedAddr is an address nothing listens on: a listener opened, then closed.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
