package app

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/persister/internal/pgtest"
	"github.com/firehole/firehole/services/persister/internal/schema"
	"github.com/firehole/firehole/services/persister/internal/store"
)

const benchAccounts = 100_000

// benchMessage is update i of a token-account stream over benchAccounts
// accounts: 165-byte SPL token data and its jsonParsed form (~330 bytes).
// Slots grow with i, so every update moves its account forward.
//
// Consecutive updates go to scattered accounts, as on mainnet, where the
// accounts written in one slot are not the ones stored next to each other:
// round r (100k consecutive i) visits every account once, in the order of
// j*m[r] mod 100k with a different multiplier (coprime with 100k) per
// round, so one round's neighbours are spread over the pages an earlier
// round filled.
func benchMessage(i int) *fireholev1.DecodedAccount {
	mult := [...]uint64{2654435761, 40503, 2246822519, 3266489917, 668265263, 374761393}
	acct := int(uint64(i%benchAccounts) * mult[(i/benchAccounts)%len(mult)] % benchAccounts)
	pk := pubkey(acct)
	mint, owner := pubkey(1_000_000+acct%50), pubkey(2_000_000+acct%5000)
	data := make([]byte, 165)
	copy(data[0:32], mint)
	copy(data[32:64], owner)
	amount := uint64(i)*7 + 1
	binary.LittleEndian.PutUint64(data[64:72], amount)
	data[108] = 1
	parsed := fmt.Appendf(nil, `{"info":{"isNative":false,"mint":"%s","owner":"%s","state":"initialized","tokenAmount":{"amount":"%d","decimals":6,"uiAmount":%g,"uiAmountString":"%g"}},"type":"account"}`,
		base58.Encode(mint), base58.Encode(owner), amount, float64(amount)/1e6, float64(amount)/1e6)
	return &fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: pk, Owner: solana.TokenProgramID[:], Lamports: 2039280, RentEpoch: ^uint64(0),
			Data: data, WriteVersion: uint64(i), Slot: 300_000_000 + uint64(i/2000),
			TxnSignature: make([]byte, 64), Commitment: fireholev1.Commitment_COMMITMENT_PROCESSED,
		},
		Program: "spl-token", AccountType: "account", Parsed: parsed,
		Status: fireholev1.DecodeStatus_DECODE_STATUS_OK, JsonParsed: true,
	}
}

// BenchmarkStoreWriteAccounts: the Postgres write path alone (COPY into
// staging + upsert), batches of 5000 over 100k accounts.
func BenchmarkStoreWriteAccounts(b *testing.B) {
	pool, name := pgtest.Schema(b)
	s := store.New(pool, store.Options{Schema: name})
	ctx := context.Background()
	const batch = 5000
	// Prime the table so the benchmark measures updates, not inserts.
	for i := 0; i < benchAccounts; i += batch {
		rows := make([]store.Row, 0, batch)
		for j := i; j < i+batch; j++ {
			r, _ := store.FromDecoded(benchMessage(j))
			rows = append(rows, r)
		}
		if _, err := s.WriteAccounts(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	rows := make([][]store.Row, 0, 40)
	for k := range 40 {
		var bs []store.Row
		for j := range batch {
			r, _ := store.FromDecoded(benchMessage(benchAccounts + k*batch + j))
			bs = append(bs, r)
		}
		rows = append(rows, bs)
	}
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			var wg sync.WaitGroup
			per := b.N / writers
			b.ResetTimer()
			start := time.Now()
			for w := range writers {
				wg.Go(func() {
					for i, n := w, 0; n < per; i += writers {
						// Rows reused across rounds stop moving forward; bump their slot.
						bs := rows[i%len(rows)]
						for j := range bs {
							bs[j].Slot += 1000
						}
						if _, err := s.WriteAccounts(ctx, bs); err != nil {
							b.Error(err)
							return
						}
						n += len(bs)
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(per*writers)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// BenchmarkServerSideUpsert: the same upsert with rows made inside
// Postgres by generate_series (no client, no COPY): the ceiling for this
// server.
func BenchmarkServerSideUpsert(b *testing.B) {
	pool, name := pgtest.Schema(b)
	ctx := context.Background()
	const batch = 5000
	s := schema.Ident(name)
	sql := `INSERT INTO ` + s + `.accounts AS a (pubkey, owner, slot, write_version, lamports, executable, rent_epoch, data, data_len,
  txn_signature, commitment, program, account_type, parsed, json_parsed, decode_status, token_owner, token_mint, updated_at)
SELECT decode(lpad(to_hex(acct), 64, '0'), 'hex'), decode(repeat('06', 32), 'hex'), $2::bigint, i, 2039280, false, -1,
  decode(repeat('ab', 165), 'hex'), 165, decode(repeat('00', 64), 'hex'), 1, 'spl-token', 'account',
  jsonb_build_object('type', 'account', 'info', jsonb_build_object('isNative', false, 'mint', md5((acct % 50)::text), 'owner', md5((acct % 5000)::text),
    'state', 'initialized', 'tokenAmount', jsonb_build_object('amount', (i * 7)::text, 'decimals', 6, 'uiAmount', i * 7 / 1e6, 'uiAmountString', (i * 7 / 1e6)::text))),
  true, 1, decode(lpad(to_hex(acct % 5000), 64, '0'), 'hex'), decode(lpad(to_hex(acct % 50), 64, '0'), 'hex'), now()
FROM generate_series($1::bigint, $1::bigint + ` + fmt.Sprint(batch-1) + `) AS i, LATERAL (SELECT (i % 100000) * $3::bigint % 100000 AS acct) AS k
ON CONFLICT (pubkey) DO UPDATE SET
  owner = excluded.owner, slot = excluded.slot, write_version = excluded.write_version, lamports = excluded.lamports,
  executable = excluded.executable, rent_epoch = excluded.rent_epoch, data = excluded.data, data_len = excluded.data_len,
  txn_signature = excluded.txn_signature, commitment = excluded.commitment, program = excluded.program,
  account_type = excluded.account_type, parsed = excluded.parsed, json_parsed = excluded.json_parsed,
  decode_status = excluded.decode_status, decode_error = excluded.decode_error, token_owner = excluded.token_owner,
  token_mint = excluded.token_mint, token_delegate = excluded.token_delegate, updated_at = excluded.updated_at
WHERE (excluded.slot, excluded.write_version) > (a.slot, a.write_version)
   OR ((excluded.slot, excluded.write_version) = (a.slot, a.write_version) AND a.decode_status <> 1 AND excluded.decode_status = 1)`
	// The same scattered order as benchMessage: a multiplier per round.
	mult := [...]int64{2654435761, 40503, 2246822519, 3266489917, 668265263, 374761393}
	slot := int64(1)
	for i := 0; i < benchAccounts; i += batch {
		if _, err := pool.Exec(ctx, sql, i, slot, mult[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := benchAccounts; n < b.N; i += batch {
		slot++
		if _, err := pool.Exec(ctx, sql, i, slot, mult[(i/benchAccounts)%len(mult)]); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkEndToEnd publishes b.N decoded updates (100k accounts) to an
// in-process JetStream while one persister consumes them, and reports the
// rate from first publish to the last commit, plus publish-to-commit
// percentiles. Use -benchtime=Nx.
func BenchmarkEndToEnd(b *testing.B) {
	b.Run("empty-table", func(b *testing.B) { benchEndToEnd(b, 0, false, false) })
	b.Run("primed", func(b *testing.B) { benchEndToEnd(b, 0, true, false) })
}

// BenchmarkDrainBacklog publishes b.N updates first (not timed), then
// starts the persister (table primed) and times it until all are
// committed: the persister's own sustained rate, without a publisher
// competing for the CPU. Its latencies are queueing time and mean little.
func BenchmarkDrainBacklog(b *testing.B) {
	for _, w := range []int{1, 2, 3, 4} {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) {
			benchWriters = w
			defer func() { benchWriters = 2 }()
			benchEndToEnd(b, 0, true, true)
		})
	}
}

// benchWriters is PERSISTER_WRITERS in the end-to-end benchmarks.
var benchWriters = 2

// BenchmarkEndToEndPaced is BenchmarkEndToEnd (primed) with publishing held
// to a fixed rate, so latency is not queueing behind a backlog.
func BenchmarkEndToEndPaced(b *testing.B) {
	for _, rate := range []int{10_000, 20_000, 40_000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { benchEndToEnd(b, rate, true, false) })
	}
}

// benchEndToEnd: with primed, the 100k accounts exist before the clock
// starts (steady state: updates, not first inserts).
func benchEndToEnd(b *testing.B, rate int, primed, backlog bool) {
	_, nc, js := bustest.StartWithStreams(b)
	pool, name := pgtest.Schema(b)
	opt := testOptions(name)
	opt.BatchSize, opt.BatchWait, opt.MaxAckPending, opt.AckWait = 5000, 50*time.Millisecond, 20000, 30*time.Second
	opt.Writers = benchWriters

	// Bodies are built before the clock starts.
	bodies := make([][]byte, b.N)
	subjects := make([]string, b.N)
	for i := range b.N {
		m := benchMessage(i)
		bodies[i], _ = proto.Marshal(m)
		subjects[i] = bus.DecodedAccountSubject(m.Account.Owner, m.Account.Pubkey)
	}
	if primed {
		st := store.New(pool, store.Options{Schema: name})
		for i := 0; i < benchAccounts; i += 5000 {
			rows := make([]store.Row, 0, 5000)
			for j := i; j < i+5000; j++ {
				m := benchMessage(5*benchAccounts + j) // another order than the run's
				m.Account.Slot = 1                     // older than anything the run publishes
				r, _ := store.FromDecoded(m)
				rows = append(rows, r)
			}
			if _, err := st.WriteAccounts(context.Background(), rows); err != nil {
				b.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	reg := testLogger(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	promReg := prometheus.NewRegistry()
	p, err := New(ctx, pool, js, opt, reg, promReg)
	if err != nil {
		b.Fatal(err)
	}
	p.OnAccountLatency(func(d time.Duration) { mu.Lock(); lat = append(lat, d); mu.Unlock() })
	done := make(chan error, 1)
	pjs, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	pubDone := make(chan time.Duration, 1)
	var start time.Time
	if backlog {
		for i := range b.N {
			for {
				if _, err := pjs.PublishMsgAsync(&nats.Msg{Subject: subjects[i], Data: bodies[i]}); err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		<-pjs.PublishAsyncComplete()
		b.ResetTimer()
		start = time.Now()
		pubDone <- 0
		go func() { done <- p.Run(ctx) }()
	} else {
		go func() { done <- p.Run(ctx) }()
		b.ResetTimer()
		start = time.Now()
	}
	go func() {
		if backlog {
			return
		}
		for i := range b.N {
			if rate > 0 && i%1000 == 0 {
				if ahead := time.Duration(i)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
			for {
				if _, err := pjs.PublishMsgAsync(&nats.Msg{Subject: subjects[i], Data: bodies[i]}); err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		<-pjs.PublishAsyncComplete()
		pubDone <- time.Since(start)
	}()
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	pubElapsed := <-pubDone
	cancel()
	<-done
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Milliseconds()) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "updates/s")
	if !backlog {
		b.ReportMetric(float64(b.N)/pubElapsed.Seconds(), "published/s")
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1.0), "max-ms")
	mfs, _ := promReg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil && m.GetLabel()[0].GetValue() == "accounts" && h.GetSampleCount() > 0 {
				switch mf.GetName() {
				case "firehole_persister_batch_write_seconds":
					b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "ms/batch")
				case "firehole_persister_batch_size":
					b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "msgs/batch")
				}
			}
			if h := m.GetHistogram(); h != nil && mf.GetName() == "firehole_persister_account_batch_phase_seconds" && h.GetSampleCount() > 0 {
				b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "ms-"+m.GetLabel()[0].GetValue())
			}
		}
	}
}
