package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serve runs the router until ctx ends (SIGTERM), then drains: /readyz turns 503 so the Service stops
// sending new connections, the router keeps serving for DrainDelay while that spreads, then stops
// accepting and waits up to DrainTimeout for requests in flight and held to finish.
func serve(ctx context.Context, cfg Config, userLn, adminLn net.Listener, resolver Resolver) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newMetrics(reg)
	pool := newPool(cfg, metrics)

	// Discovery outlives ctx: held requests still need replicas while the router drains.
	discoveryCtx, stopDiscovery := context.WithCancel(context.Background())
	defer stopDiscovery()
	if cfg.StaticSet {
		go keepStatic(discoveryCtx, cfg.EndpointsStatic, cfg.DNSRefresh, pool)
	} else {
		go discover(discoveryCtx, resolver, cfg.EndpointsDNS, cfg.EndpointsPort, cfg.DNSRefresh, pool, metrics)
	}

	var draining atomic.Bool
	user := &http.Server{Handler: newRouter(cfg, pool, metrics), ReadHeaderTimeout: 30 * time.Second}
	admin := &http.Server{Handler: adminHandler(reg, &draining), ReadHeaderTimeout: 10 * time.Second}
	failed := make(chan error, 2)
	for srv, ln := range map[*http.Server]net.Listener{user: userLn, admin: adminLn} {
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}
	slog.Info("router serving", "listen", userLn.Addr().String(), "admin", adminLn.Addr().String(),
		"routing", cfg.Routing)

	select {
	case err := <-failed:
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	slog.Info("draining", "delay", cfg.DrainDelay, "timeout", cfg.DrainTimeout)
	time.Sleep(cfg.DrainDelay)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	err := user.Shutdown(shutdownCtx)
	_ = admin.Close()
	slog.Info("drained", "err", err)
	return err
}

// adminHandler serves the probes and the metrics. /readyz is 200 with no replica ready too: the router
// must take requests then, to hold them (and wake a fleet scaled to zero).
func adminHandler(reg *prometheus.Registry, draining *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// keepStatic gives the pool a fixed list, again at every refresh (a refused replica comes back after one).
func keepStatic(ctx context.Context, addrs []string, every time.Duration, pool *Pool) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		pool.Update(addrs)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
