package cacher

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cacher's own; the delivery policy counts acks, naks and
// dead letters as firehole_bus_settled_total{stage="cacher"}.
type metrics struct {
	messages    *prometheus.CounterVec   // by consumer and result
	writeSecs   *prometheus.HistogramVec // one Redis batch, by consumer
	lag         *prometheus.HistogramVec // stored in JetStream → confirmed by Redis
	redisErrors *prometheus.CounterVec
	redisUp     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_cacher_messages_total",
			Help: "Messages handled, by consumer (accounts, slots) and result (applied, stale, duplicate, malformed, ignored).",
		}, []string{"consumer", "result"}),
		writeSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "firehole_cacher_batch_write_seconds",
			Help:    "Time to write one batch to Redis, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"consumer"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "firehole_cacher_lag_seconds",
			Help:    "From the message's JetStream timestamp to Redis confirming its write.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 1.4, 32), // 0.5 ms .. 17 s
		}, []string{"consumer"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_cacher_redis_errors_total",
			Help: "Failed Redis batch writes (each is retried with backoff).",
		}, []string{"consumer"}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "firehole_cacher_redis_up",
			Help: "1 while the last Redis write succeeded, 0 while writes are failing.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.writeSecs, m.lag, m.redisErrors, m.redisUp)
	}
	return m
}
