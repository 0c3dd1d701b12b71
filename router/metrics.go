package main

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the router's Prometheus series. The operator's autoscaler reads held_requests and
// requests_total: both exist at zero replicas (a metric of the engines would vanish with them), so the
// first held request can wake a fleet scaled to zero.
type Metrics struct {
	Requests  prometheus.Counter
	Held      prometheus.Gauge
	HoldTime  prometheus.Histogram
	Routed    *prometheus.CounterVec
	InFlight  *prometheus.GaugeVec
	Rejected  *prometheus.CounterVec
	Endpoints prometheus.Gauge
	DNSErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modelfleet_router_requests_total", Help: "Requests received.",
		}),
		Held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "modelfleet_router_held_requests", Help: "Requests held now because no replica is ready.",
		}),
		HoldTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "modelfleet_router_hold_seconds", Help: "Time a request was held before it was routed or refused.",
			// From a DNS refresh (about a second) to a cold start of minutes.
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600},
		}),
		Routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modelfleet_router_routed_total", Help: "Requests sent to each replica (pod address).",
		}, []string{"replica"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "modelfleet_router_in_flight", Help: "Requests in flight on each replica (pod address).",
		}, []string{"replica"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modelfleet_router_rejected_total", Help: "Requests the router answered itself, by reason.",
		}, []string{"reason"}),
		Endpoints: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "modelfleet_router_ready_replicas", Help: "Ready replicas the router knows of.",
		}),
		DNSErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modelfleet_router_discovery_errors_total", Help: "Failed reads of the replicas' A records.",
		}),
	}
	reg.MustRegister(m.Requests, m.Held, m.HoldTime, m.Routed, m.InFlight, m.Rejected, m.Endpoints, m.DNSErrors)
	for _, reason := range allReasons {
		m.Rejected.WithLabelValues(string(reason)) // every reason from 0, so rate() sees the first one
	}
	return m
}
