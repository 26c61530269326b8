// Package metrics holds the gateway's Prometheus collectors. One Metrics is
// built in run and passed to the components; a nil *Metrics records nothing.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's collectors.
type Metrics struct {
	Connections        *prometheus.GaugeVec   // by transport
	Subscriptions      *prometheus.GaugeVec   // active client subscriptions by method
	SharedSubs         prometheus.Gauge       // distinct (de-duplicated) subscriptions
	NATSSubjects       prometheus.Gauge       // NATS subscriptions held by the hub
	Notifications      *prometheus.CounterVec // sent frames by method
	Dropped            *prometheus.CounterVec // frames not queued (connection closed or slow) by method
	SlowConsumers      prometheus.Counter
	QueueDepth         prometheus.Gauge // frames queued across connections
	Latency            prometheus.Histogram
	Requests           *prometheus.CounterVec // JSON-RPC requests by transport, method, code
	AuthRejected       *prometheus.CounterVec // by reason
	NATSDroppedSubject prometheus.Counter
}

// New registers the collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "connections", Help: "Open client connections."}, []string{"transport"}),
		Subscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "subscriptions", Help: "Active client subscriptions by method."}, []string{"method"}),
		SharedSubs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "distinct_subscriptions", Help: "Distinct subscriptions after de-duplication of identical params."}),
		NATSSubjects: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "nats_subscriptions", Help: "NATS subjects this replica is subscribed to (interest-based)."}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "notifications_sent_total", Help: "Notification frames queued to connections by method."}, []string{"method"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "notifications_dropped_total", Help: "Notification frames not delivered (connection closed or slow) by method."}, []string{"method"}),
		SlowConsumers: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "slow_consumer_disconnects_total", Help: "Connections closed with 1008 slow consumer."}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "send_queue_frames", Help: "Frames waiting in connection send queues."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "source_to_send_seconds", Help: "From the account's Geyser created_at (or ingested_at) to the notification being queued.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "rpc_requests_total", Help: "JSON-RPC requests by transport, method and result code (0 = ok)."}, []string{"transport", "method", "code"}),
		AuthRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "auth_rejected_total", Help: "Requests or upgrades refused by auth, by reason."}, []string{"reason"}),
		NATSDroppedSubject: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "firehole", Subsystem: "gateway",
			Name: "nats_slow_consumer_total", Help: "NATS slow-consumer events on the replica's subscriptions."}),
	}
	reg.MustRegister(m.Connections, m.Subscriptions, m.SharedSubs, m.NATSSubjects, m.Notifications, m.Dropped,
		m.SlowConsumers, m.QueueDepth, m.Latency, m.Requests, m.AuthRejected, m.NATSDroppedSubject)
	return m
}

// KnownMethods bounds the method label of Requests; anything else is "other".
var KnownMethods = map[string]bool{
	"accountSubscribe": true, "accountUnsubscribe": true, "programSubscribe": true, "programUnsubscribe": true,
	"slotSubscribe": true, "slotUnsubscribe": true, "ping": true, "getVersion": true, "getAccountInfo": true,
	"getMultipleAccounts": true, "getProgramAccounts": true, "getTokenAccountsByOwner": true,
	"getTokenAccountsByDelegate": true, "getSlot": true, "getHealth": true,
}

// Request counts one JSON-RPC call.
func (m *Metrics) Request(transport, method string, code int) {
	if m == nil {
		return
	}
	if !KnownMethods[method] {
		method = "other"
	}
	m.Requests.WithLabelValues(transport, method, itoa(code)).Inc()
}

// ObserveLatency records the time since t (if t is set).
func (m *Metrics) ObserveLatency(t time.Time) {
	if m == nil || t.IsZero() {
		return
	}
	m.Latency.Observe(time.Since(t).Seconds())
}

func itoa(v int) string {
	switch v {
	case 0:
		return "0"
	case -32700:
		return "-32700"
	case -32600:
		return "-32600"
	case -32601:
		return "-32601"
	case -32602:
		return "-32602"
	case -32603:
		return "-32603"
	}
	return "other"
}
