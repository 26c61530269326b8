package pipeline

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the parser's Prometheus series. Label values are bounded:
// program and account type come from the registered decoders (unknown
// programs are "unknown", never the owner id).
type metrics struct {
	decoded      *prometheus.CounterVec
	decodeErrors *prometheus.CounterVec
	awaitingMint prometheus.Counter
	redecoded    prometheus.Counter
	pendingDrop  prometheus.Counter
	mintLookups  *prometheus.CounterVec
	decodeTime   prometheus.Histogram
	consumerLag  *prometheus.GaugeVec
	published    prometheus.Counter
	rewinds      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, inFlight, pending func() float64) *metrics {
	m := &metrics{
		decoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_parser_decoded_total",
			Help: "Account updates decoded and republished, by program, account type and decode status.",
		}, []string{"program", "account_type", "status"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_parser_decode_errors_total",
			Help: "Account updates whose program has a decoder but whose bytes did not decode, by program.",
		}, []string{"program"}),
		awaitingMint: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firehole_parser_awaiting_mint_total",
			Help: "Token account updates published with status AWAITING_MINT because their mint was not known.",
		}),
		redecoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firehole_parser_redecoded_total",
			Help: "Token account updates decoded again and republished after their mint arrived.",
		}),
		pendingDrop: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firehole_parser_pending_dropped_total",
			Help: "Token account updates not kept for a re-decode because the pending set was full.",
		}),
		mintLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_parser_mint_lookups_total",
			Help: "Lookups of mints missing from the cache in the outside store (Redis), by result (found, missing, error).",
		}, []string{"result"}),
		decodeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firehole_parser_decode_duration_seconds",
			Help:    "Time from receiving a raw update to handing its decoded form to the publisher (unmarshal, decode, marshal).",
			Buckets: prometheus.ExponentialBuckets(2e-6, 4, 10),
		}),
		consumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "firehole_parser_consumer_pending_messages",
			Help: "Raw messages not yet delivered to this replica's consumer (num_pending), by partition; polled.",
		}, []string{"partition"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firehole_parser_published_total",
			Help: "Decoded messages acknowledged by JetStream (re-decodes included).",
		}),
		rewinds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firehole_parser_rewinds_total",
			Help: "Partitions reset to their ack floor after a raw message could not be republished or dead-lettered.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decoded, m.decodeErrors, m.awaitingMint, m.redecoded, m.pendingDrop,
			m.mintLookups, m.decodeTime, m.consumerLag, m.published, m.rewinds,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "firehole_parser_publish_in_flight",
				Help: "Decoded messages published and not yet acknowledged by JetStream.",
			}, inFlight),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "firehole_parser_pending_accounts",
				Help: "Token accounts waiting for their mint (latest update per account).",
			}, pending))
	}
	return m
}

func partitionLabel(p int) string {
	if p == AllPartitions {
		return "all"
	}
	return strconv.Itoa(p)
}
