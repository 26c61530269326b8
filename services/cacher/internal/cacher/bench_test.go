package cacher

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/bus"
)

// benchMsgs makes n updates over 50,000 accounts and 64 programs, each
// account's slot rising with every round; 165 data bytes (an SPL token
// account) and no parsed JSON, about 260 bytes per message.
func benchMsgs(b *testing.B, n int) []*jetstreamMsg {
	out := make([]*jetstreamMsg, n)
	for i := range n {
		u := upd{n: i % 50_000, owner: i % 64, slot: uint64(1000 + i/50_000), status: statusOK, lamports: 2039280, pad: 150}
		subj, data := u.marshal(b)
		out[i] = &jetstreamMsg{subj, data}
	}
	return out
}

type jetstreamMsg struct {
	subject string
	data    []byte
}

// BenchmarkEndToEnd is the service from a pre-loaded stream: b.N decoded
// updates are in FIREHOLE_DECODED before the cacher starts; the time is from
// its start until the consumer has every message acknowledged (each one
// confirmed by Redis first).
//
//	go test -run '^$' -bench BenchmarkEndToEnd -benchtime 200000x ./internal/cacher
func BenchmarkEndToEnd(b *testing.B) {
	e := newEnv(b)
	msgs := benchMsgs(b, b.N)
	e.publishRaw(msgs)
	cfg := e.config()
	cfg.BatchSize, cfg.Workers, cfg.MaxAckPending, cfg.AckWait = 512, 4, 32768, 30*time.Second
	b.ResetTimer()
	start := time.Now()
	e.start(cfg)
	e.drained(bus.StreamDecoded, AccountsConsumer, 10*time.Minute)
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "updates/s")
}

// BenchmarkLiveLag publishes b.N updates at a fixed rate (5,000/s) to a
// running cacher and reports the lag from the JetStream timestamp to Redis
// confirming the write (firehole_cacher_lag_seconds), p50 and p99.
//
//	go test -run '^$' -bench BenchmarkLiveLag -benchtime 50000x ./internal/cacher
func BenchmarkLiveLag(b *testing.B) {
	const rate = 5000
	e := newEnv(b)
	msgs := benchMsgs(b, b.N)
	cfg := e.config()
	cfg.BatchSize, cfg.Workers, cfg.MaxAckPending = 512, 4, 32768
	in := e.start(cfg)
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	per := rate / 100
	for i := 0; i < len(msgs); i += per {
		<-tick.C
		e.publishRaw(msgs[i:min(i+per, len(msgs))])
	}
	e.drained(bus.StreamDecoded, AccountsConsumer, 5*time.Minute)
	b.StopTimer()
	p50, p99 := quantile(b, in.reg, 0.5), quantile(b, in.reg, 0.99)
	b.ReportMetric(p50*1000, "p50-ms")
	b.ReportMetric(p99*1000, "p99-ms")
}

// quantile estimates a quantile of the accounts lag histogram by linear
// interpolation inside its bucket.
func quantile(b *testing.B, reg *prometheus.Registry, q float64) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "firehole_cacher_lag_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != "accounts" {
				continue
			}
			h := m.GetHistogram()
			rank := q * float64(h.GetSampleCount())
			lo, prev := 0.0, 0.0
			for _, bk := range h.GetBucket() {
				c := float64(bk.GetCumulativeCount())
				if c >= rank {
					return lo + (bk.GetUpperBound()-lo)*(rank-prev)/max(c-prev, 1)
				}
				lo, prev = bk.GetUpperBound(), c
			}
			return lo
		}
	}
	b.Fatal("no lag histogram")
	return 0
}

func (e *env) publishRaw(msgs []*jetstreamMsg) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	futs := make([]jetstream.PubAckFuture, 0, 2048) // below the async publish limit (4000)
	flush := func() {
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				panic(fmt.Sprintf("publish: %v", err))
			case <-ctx.Done():
				panic("publish timed out")
			}
		}
		futs = futs[:0]
	}
	for _, m := range msgs {
		f, err := e.js.PublishAsync(m.subject, m.data)
		if err != nil {
			panic(err)
		}
		if futs = append(futs, f); len(futs) == cap(futs) {
			flush()
		}
	}
	flush()
}

// nullWriter confirms every write at once: the pipeline without Redis.
type nullWriter struct{}

func (nullWriter) Write(_ context.Context, ups []accountcache.Update) ([]accountcache.Result, error) {
	return make([]accountcache.Result, len(ups)), nil
}

// BenchmarkPipelineNoRedis is BenchmarkEndToEnd with a sink that confirms
// at once: the ceiling of consuming, decoding, batching and acknowledging
// from the in-process JetStream on this machine.
//
//	go test -run '^$' -bench BenchmarkPipelineNoRedis -benchtime 200000x ./internal/cacher
func BenchmarkPipelineNoRedis(b *testing.B) {
	e := newEnv(b)
	e.publishRaw(benchMsgs(b, b.N))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := e.config()
	cons, _, err := ensureConsumers(ctx, e.js, cfg)
	if err != nil {
		b.Fatal(err)
	}
	m := newMetrics(nil)
	p := &pipeline[accountcache.Update]{
		name: "accounts", cons: cons, sink: &accountSink{w: nullWriter{}, m: m},
		policy: bus.NewPolicy(e.js, "cacher", zerolog.Nop(), nil), log: zerolog.Nop(), m: m,
		workers: 4, batchSize: 512, pullMax: 32768, ackWait: 30 * time.Second,
		backoffMin: 100 * time.Millisecond, backoffMax: time.Second, grace: time.Second,
	}
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	e.drained(bus.StreamDecoded, AccountsConsumer, 10*time.Minute)
	el := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/el.Seconds(), "updates/s")
}
