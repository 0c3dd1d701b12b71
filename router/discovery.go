package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"time"
)

// Resolver is the part of net.Resolver discovery uses (tests give a fake).
type Resolver interface {
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
}

// discover keeps the pool's ready set equal to the headless Service's A records. Kubernetes publishes
// only ready pods there (publishNotReadyAddresses: false), so the router needs no API access: DNS is the
// whole of its view of the fleet.
func discover(ctx context.Context, r Resolver, host string, port int, every time.Duration, pool *Pool, m *Metrics) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		refresh(ctx, r, host, port, every, pool, m)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// refresh reads the A records once. A name that does not exist is a fleet with no ready pod (a headless
// Service with no ready endpoints has no records); any other failure keeps the last set, so a DNS hiccup
// does not empty the fleet and start holding every request.
func refresh(ctx context.Context, r Resolver, host string, port int, timeout time.Duration, pool *Pool, m *Metrics) {
	lookupCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ips, err := r.LookupIP(lookupCtx, "ip4", host)
	var dnsErr *net.DNSError
	switch {
	case err == nil:
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		ips = nil
	default:
		if ctx.Err() == nil {
			m.DNSErrors.Inc()
			slog.Warn("reading the replicas' A records failed; keeping the last set", "host", host, "err", err)
		}
		return
	}
	pool.Update(endpointAddrs(ips, port))
}

func endpointAddrs(ips []net.IP, port int) []string {
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	}
	sort.Strings(addrs)
	return addrs
}
