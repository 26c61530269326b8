// Package metrics holds the ingestor's Prometheus collectors, made once in
// run and passed to the packages that update them.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Bad-input reasons (label values of BadInput).
const (
	ReasonNilAccount    = "nil_account"
	ReasonPubkeyLength  = "pubkey_length"
	ReasonOwnerLength   = "owner_length"
	ReasonUnknownUpdate = "unknown_update"
	ReasonNilSlot       = "nil_slot"
	ReasonPublish       = "publish_rejected"
)

// Metrics are the ingestor's collectors. Program labels are bounded: a known
// or configured program id in base58, else "other".
type Metrics struct {
	Received       *prometheus.CounterVec // program
	Published      *prometheus.CounterVec // program
	PublishErrors  *prometheus.CounterVec // kind
	PublishLatency prometheus.Histogram   // ingested_at → PubAck
	IngestLatency  prometheus.Histogram   // Geyser created_at → PubAck
	SlotsPublished *prometheus.CounterVec // status
	Reconnects     *prometheus.CounterVec // reason
	Gaps           prometheus.Counter
	GapSlots       prometheus.Counter
	LastSlot       *prometheus.GaugeVec // status
	LastFullSlot   prometheus.Gauge
	Connected      prometheus.Gauge
	InFlight       prometheus.GaugeFunc
	BadInput       *prometheus.CounterVec // reason
	PingsAnswered  prometheus.Counter
	PublishRetries prometheus.Counter
}

// New makes the collectors and registers them on reg (when not nil).
// inFlight reports the publisher's unacknowledged messages.
func New(reg prometheus.Registerer, inFlight func() float64) *Metrics {
	const ns = "firehole_ingestor"
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "updates_received_total",
			Help: "Account updates received from Geyser, by owner program (known programs, else other)."}, []string{"program"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "updates_published_total",
			Help: "Account updates acknowledged by JetStream (duplicates included), by owner program."}, []string{"program"}),
		PublishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "publish_errors_total",
			Help: "Publishes that ended without an acknowledgement (shutdown or a permanent error)."}, []string{"kind"}),
		PublishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "publish_latency_seconds",
			Help: "Time from receiving an update to its JetStream acknowledgement.", Buckets: buckets}),
		IngestLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "ingest_latency_seconds",
			Help: "Time from Geyser's created_at to the JetStream acknowledgement.", Buckets: buckets}),
		SlotsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "slot_updates_published_total",
			Help: "Slot status updates acknowledged by JetStream, by status."}, []string{"status"}),
		Reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reconnects_total",
			Help: "Geyser stream reconnects, by reason."}, []string{"reason"}),
		Gaps: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "gaps_total",
			Help: "Gap events: resumes where the server could not replay from the last seen slot."}),
		GapSlots: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "gap_slots_total",
			Help: "Slots covered by gap events."}),
		LastSlot: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_slot",
			Help: "Highest slot seen, by slot status."}, []string{"status"}),
		LastFullSlot: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_full_slot",
			Help: "Highest slot seen complete at the subscribed commitment (the resume point)."}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connected",
			Help: "1 while a Geyser stream is open."}),
		BadInput: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bad_input_total",
			Help: "Updates skipped as malformed, by reason."}, []string{"reason"}),
		PingsAnswered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "pings_answered_total",
			Help: "Server pings answered with a ping request."}),
		PublishRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "publish_retries_total",
			Help: "JetStream publishes tried again with the same message id."}),
	}
	if inFlight == nil {
		inFlight = func() float64 { return 0 }
	}
	m.InFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "publishes_in_flight",
		Help: "JetStream publishes not yet acknowledged."}, inFlight)
	for _, r := range []string{ReasonNilAccount, ReasonPubkeyLength, ReasonOwnerLength, ReasonUnknownUpdate, ReasonNilSlot, ReasonPublish} {
		m.BadInput.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Received, m.Published, m.PublishErrors, m.PublishLatency, m.IngestLatency,
			m.SlotsPublished, m.Reconnects, m.Gaps, m.GapSlots, m.LastSlot, m.LastFullSlot, m.Connected,
			m.InFlight, m.BadInput, m.PingsAnswered, m.PublishRetries)
	}
	return m
}
