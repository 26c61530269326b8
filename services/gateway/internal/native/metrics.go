package native

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connections      prometheus.Gauge
	subscriptions    prometheus.Gauge
	framesSent       prometheus.Counter
	bytesSent        prometheus.Counter
	framesDropped    prometheus.Counter
	slowConsumers    prometheus.Counter
	gaps             *prometheus.CounterVec
	badFrames        prometheus.Counter
	badMessages      prometheus.Counter
	mergeSkipped     prometheus.Counter
	snapshotAccounts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "firehole", "gateway_native"
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections", Help: "Open native-protocol WebSocket connections."}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "subscriptions", Help: "Active native-protocol subscriptions."}),
		framesSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "frames_sent_total", Help: "Frames written to clients."}),
		bytesSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "sent_bytes_total", Help: "Bytes written to clients."}),
		framesDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "frames_dropped_total", Help: "Frames dropped from the queues of slow clients in gap mode."}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "slow_consumers_total", Help: "Connections closed with 1008 slow consumer."}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "gaps_total", Help: "Gap notices sent, by reason (slow, retention)."}, []string{"reason"}),
		badFrames: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "bad_frames_total", Help: "Client frames that were not valid requests."}),
		badMessages: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "bad_messages_total", Help: "Stream messages that did not decode as DecodedAccount."}),
		mergeSkipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "merge_skipped_total", Help: "Live updates dropped because the snapshot already had them or newer."}),
		snapshotAccounts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "snapshot_accounts_total", Help: "Accounts sent in snapshots."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.subscriptions, m.framesSent, m.bytesSent,
			m.framesDropped, m.slowConsumers, m.gaps, m.badFrames, m.badMessages, m.mergeSkipped, m.snapshotAccounts} {
			_ = reg.Register(c)
		}
	}
	return m
}
