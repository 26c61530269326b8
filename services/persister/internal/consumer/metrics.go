package consumer

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the persister's consumer metrics, labelled by kind.
type Metrics struct {
	messages      *prometheus.CounterVec
	invalid       *prometheus.CounterVec
	changed       *prometheus.CounterVec
	writeErrors   *prometheus.CounterVec
	batchSeconds  *prometheus.HistogramVec
	batchSize     *prometheus.HistogramVec
	commitLatency *prometheus.HistogramVec
	phaseSeconds  *prometheus.HistogramVec
}

// ObservePhase records one phase of an account batch write (store.Options).
func (m *Metrics) ObservePhase(phase string, d time.Duration) {
	m.phaseSeconds.WithLabelValues(phase).Observe(d.Seconds())
}

// NewMetrics registers the metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_persister_messages_stored_total", Help: "Messages acked after their batch committed.",
		}, []string{"kind"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_persister_messages_invalid_total", Help: "Malformed messages sent to the dead-letter subject.",
		}, []string{"kind"}),
		changed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_persister_rows_changed_total", Help: "Rows inserted or moved forward by committed batches.",
		}, []string{"kind"}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_persister_write_errors_total", Help: "Batch writes that failed and were retried.",
		}, []string{"kind"}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "firehole_persister_batch_write_seconds", Help: "Time to write and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"kind"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "firehole_persister_batch_size", Help: "Messages per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}, []string{"kind"}),
		commitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "firehole_persister_publish_to_commit_seconds", Help: "Time from a message's storage in JetStream to the commit of its batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"kind"}),
		phaseSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "firehole_persister_account_batch_phase_seconds", Help: "Time of each phase of an account batch write (copy, history, upsert, commit).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"phase"}),
	}
	if reg != nil {
		m.messages = register(reg, m.messages)
		m.invalid = register(reg, m.invalid)
		m.changed = register(reg, m.changed)
		m.writeErrors = register(reg, m.writeErrors)
		m.batchSeconds = register(reg, m.batchSeconds)
		m.batchSize = register(reg, m.batchSize)
		m.commitLatency = register(reg, m.commitLatency)
		m.phaseSeconds = register(reg, m.phaseSeconds)
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name (a second Persister on one registry shares the metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
