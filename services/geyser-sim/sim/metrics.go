package sim

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"
)

type metrics struct {
	generated   prometheus.Counter
	sent        prometheus.Counter
	subscribers prometheus.Gauge
	slot        prometheus.Gauge
	disconnects *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		generated:   prometheus.NewCounter(prometheus.CounterOpts{Name: "firehole_geysersim_updates_generated_total", Help: "Account updates generated or replayed."}),
		sent:        prometheus.NewCounter(prometheus.CounterOpts{Name: "firehole_geysersim_messages_sent_total", Help: "Updates sent to subscribers."}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "firehole_geysersim_subscribers", Help: "Open Subscribe streams."}),
		slot:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "firehole_geysersim_slot", Help: "Newest processed slot."}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "firehole_geysersim_client_disconnects_total", Help: "Subscribe streams ended by error, by gRPC code."}, []string{"code"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.generated, m.sent, m.subscribers, m.slot, m.disconnects}
}

func (m *metrics) disconnect(err error) {
	m.disconnects.WithLabelValues(status.Code(err).String()).Inc()
}
