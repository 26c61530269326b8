package pipeline_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/solana"
)

// BenchmarkDrain measures how fast one parser replica (all 16 partitions)
// drains a pre-loaded raw stream of SPL token accounts: consume, decode
// (jsonParsed with mint decimals), republish, wait for the PubAck, ack.
// b.N is the number of token account updates; run with -benchtime=Nx.
func BenchmarkDrain(b *testing.B) {
	for _, mem := range []bool{true, false} {
		name := "file"
		if mem {
			name = "memory"
		}
		b.Run("storage="+name, func(b *testing.B) { benchDrain(b, mem) })
	}
}

func benchDrain(b *testing.B, memory bool) {
	srv := bustest.Start(b)
	nc, js := bustest.Connect(b, srv.URL)
	ctx := context.Background()
	opts := bus.DefaultStreamOptions()
	opts.MemoryStorage = memory
	opts.MaxBytes = -1
	if err := bus.EnsureStreams(ctx, js, opts); err != nil {
		b.Fatal(err)
	}
	e := &env{t: b, srv: srv, nc: nc, js: js}

	const nMints = 1000
	mintKeys := make([][32]byte, nMints)
	ajs, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	pub := func(owner, pk [32]byte, data []byte, slot uint64) {
		u := update(owner, pk, data, slot)
		body, _ := proto.Marshal(u)
		m := nats.NewMsg(bus.RawAccountSubject(owner[:], pk[:]))
		m.Data = body
		m.Header.Set(bus.HeaderMsgID, bus.AccountMsgID(u))
		if _, err := ajs.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	for i := range mintKeys {
		mintKeys[i] = key(b)
		pub(solana.TokenProgramID, mintKeys[i], mintData(uint8(i%10), 1e12), 1)
	}
	holders := make([][32]byte, 10_000)
	for i := range holders {
		holders[i] = key(b)
	}
	for i := range b.N {
		pub(solana.TokenProgramID, holders[i%len(holders)],
			tokenAccountData(mintKeys[i%nMints], holders[(i*7)%len(holders)], uint64(i)*1000), uint64(2+i))
	}
	select {
	case <-ajs.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("preload did not complete")
	}
	total := float64(b.N + nMints)

	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	rep := e.start(replicaOpts{batch: 1000, inFlight: 8192})
	for sum(b, rep, "firehole_bus_settled_total") < total {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	// CPU time of the whole process (parser and in-process NATS server) per
	// update: a measure the shared machine's load does not distort.
	b.ReportMetric(float64(cpu.Microseconds())/total, "cpu-µs/update")
	b.ReportMetric(total/elapsed.Seconds(), "updates/s")
	b.ReportMetric(sum(b, rep, "firehole_parser_awaiting_mint_total"), "awaiting-mint")
	rep.stop(b)
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
