package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Config is the router's whole configuration: its command line, one flag per setting (docs/router.md).
type Config struct {
	Listen      string // user traffic: the port the Service sends to (8000, the engines' own port)
	AdminListen string // probes and /metrics, away from user traffic

	// Where the replicas are: the A records of a headless Service that publishes ready pods only, or a
	// fixed list (tests, the benchmark, a fleet outside Kubernetes).
	EndpointsDNS    string
	EndpointsPort   int
	EndpointsStatic []string
	StaticSet       bool
	DNSRefresh      time.Duration

	Routing           string  // "least-in-flight" or "prefix"
	AffinityPrefix    int     // characters of the prompt (or the chat messages) the prefix hash reads
	AffinityLoadBound float64 // c of consistent hashing with bounded loads: a replica takes at most c x average

	MaxHeld    int           // requests held at once while no replica is ready; more are refused (429)
	MaxHold    time.Duration // how long one request is held before it is refused (503)
	RetryAfter time.Duration // the Retry-After a refused request gets

	MaxBodyBytes int64 // the request body is read whole (to retry on a refused connection and to hash)

	DrainDelay   time.Duration // after SIGTERM: unready, still serving, while endpoints catch up
	DrainTimeout time.Duration // then: in-flight and held requests finish within this
}

const (
	RoutingLeastInFlight = "least-in-flight"
	RoutingPrefix        = "prefix"
)

func parseConfig(args []string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("modelfleet-router", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", ":8000", "address for user traffic")
	fs.StringVar(&c.AdminListen, "admin-listen", ":9090", "address for /healthz, /readyz and /metrics")
	fs.StringVar(&c.EndpointsDNS, "endpoints-dns", "", "headless Service name whose A records are the ready replicas")
	fs.IntVar(&c.EndpointsPort, "endpoints-port", 8000, "the replicas' port")
	static := fs.String("endpoints-static", "", "fixed replicas host:port,host:port (instead of -endpoints-dns; empty: none)")
	fs.DurationVar(&c.DNSRefresh, "dns-refresh", time.Second, "how often the A records are read")
	fs.StringVar(&c.Routing, "routing", RoutingLeastInFlight, "least-in-flight, or prefix (affinity by the prompt's prefix)")
	fs.IntVar(&c.AffinityPrefix, "affinity-prefix-chars", 256, "characters of the prompt the prefix affinity hashes")
	fs.Float64Var(&c.AffinityLoadBound, "affinity-load-bound", 1.25, "a replica takes at most this x the average in flight")
	fs.IntVar(&c.MaxHeld, "max-held", 1000, "requests held at once while no replica is ready (then 429)")
	fs.DurationVar(&c.MaxHold, "max-hold", 5*time.Minute, "how long a request is held at most (then 503)")
	fs.DurationVar(&c.RetryAfter, "retry-after", 5*time.Second, "Retry-After of a refused request")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 32<<20, "largest request body (then 413)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 5*time.Second, "after SIGTERM, unready but serving for this long")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 10*time.Minute, "then in-flight requests have this long to finish")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "endpoints-static" {
			c.StaticSet = true
		}
	})
	if *static != "" {
		c.EndpointsStatic = strings.Split(*static, ",")
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case c.StaticSet == (c.EndpointsDNS != ""):
		return errors.New("give exactly one of -endpoints-dns and -endpoints-static")
	case c.Routing != RoutingLeastInFlight && c.Routing != RoutingPrefix:
		return fmt.Errorf("-routing must be %s or %s, not %q", RoutingLeastInFlight, RoutingPrefix, c.Routing)
	case c.AffinityLoadBound < 1:
		return errors.New("-affinity-load-bound must be at least 1")
	case c.AffinityPrefix < 1:
		return errors.New("-affinity-prefix-chars must be at least 1")
	case c.MaxHeld < 0 || c.MaxHold < 0 || c.DNSRefresh <= 0:
		return errors.New("-max-held, -max-hold and -dns-refresh may not be negative (-dns-refresh not 0)")
	}
	return nil
}
