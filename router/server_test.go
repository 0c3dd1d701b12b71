package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestReadyzTurnsUnreadyWhileDraining(t *testing.T) {
	var draining atomic.Bool
	admin := httptest.NewServer(adminHandler(prometheus.NewRegistry(), &draining))
	defer admin.Close()
	status := func(path string) int {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("/readyz") != 200 || status("/healthz") != 200 || status("/metrics") != 200 {
		t.Fatal("not serving probes and metrics")
	}
	draining.Store(true)
	if status("/readyz") != 503 || status("/healthz") != 200 {
		t.Fatal("draining: want /readyz 503 and /healthz 200")
	}
}

// A stream in flight when SIGTERM comes (ctx ends) is finished before serve returns.
func TestDrainFinishesTheStreamInFlight(t *testing.T) {
	engine := newSteppedSSE()
	backend := httptest.NewServer(engine)
	defer backend.Close()
	cfg := testConfig()
	cfg.StaticSet, cfg.EndpointsStatic = true, []string{hostOf(backend)}
	cfg.DrainTimeout = 1 << 62
	userLn, adminLn := listen(t), listen(t)
	ctx, sigterm := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- serve(ctx, cfg, userLn, adminLn, nil) }()

	var resp *http.Response
	eventually(t, "the router routes", func() bool {
		r, err := http.Post("http://"+userLn.Addr().String()+"/v1/completions", "application/json",
			strings.NewReader(`{"stream":true}`))
		if err == nil && r.StatusCode == 200 {
			resp = r
			return true
		}
		if r != nil {
			r.Body.Close() // held or refused before the static list was read
		}
		return false
	})
	defer resp.Body.Close()
	<-engine.seen
	reader := bufio.NewReader(resp.Body)
	engine.next <- "data: 1\n\n"
	if line, _ := reader.ReadString('\n'); line != "data: 1\n" {
		t.Fatalf("read %q", line)
	}

	sigterm()
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) with a stream in flight", err)
	default:
	}
	engine.next <- "data: 2\n\n"
	engine.next <- "data: [DONE]\n\n"
	close(engine.next)
	rest, err := io.ReadAll(reader)
	if err != nil || string(rest) != "\ndata: 2\n\ndata: [DONE]\n\n" {
		t.Fatalf("after SIGTERM the stream got %q, %v", rest, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("drain: %v", err)
	}
}
