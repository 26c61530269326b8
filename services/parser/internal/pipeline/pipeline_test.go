package pipeline_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/pkg/testenv"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/parser/internal/mints"
	"github.com/firehole/firehole/services/parser/internal/pipeline"
)

const wait = 10 * time.Second

func TestTokenAccountUsesMintSeenEarlier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(replicaOpts{})
	r := e.reader("")

	mint, holder, acct := key(t), key(t), key(t)
	mintID := e.publishRaw(update(tokenProgram(), mint, mintData(6, 5_000_000), 100))
	got := r.next(wait)
	if got.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK || got.msg.GetAccountType() != "mint" {
		t.Fatalf("mint decoded as %v %q: %s", got.msg.GetStatus(), got.msg.GetAccountType(), got.msg.GetError())
	}
	if got.header.Get(bus.HeaderMsgID) != mintID {
		t.Errorf("mint msg id %q, want the raw one %q", got.header.Get(bus.HeaderMsgID), mintID)
	}

	u := update(tokenProgram(), acct, tokenAccountData(mint, holder, 1_500_000), 101)
	id := e.publishRaw(u)
	got = r.next(wait)
	d := got.msg
	if d.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK {
		t.Fatalf("status %v (%s), want OK", d.GetStatus(), d.GetError())
	}
	if d.GetProgram() != "spl-token" || d.GetAccountType() != "account" || !d.GetJsonParsed() {
		t.Errorf("program %q type %q json_parsed %v", d.GetProgram(), d.GetAccountType(), d.GetJsonParsed())
	}
	contains(t, string(d.GetParsed()),
		`"mint":"`+base58.Encode(mint[:])+`"`, `"owner":"`+base58.Encode(holder[:])+`"`,
		`"decimals":6`, `"amount":"1500000"`, `"uiAmountString":"1.5"`, `"uiAmount":1.5`, `"type":"account"`)
	if !proto.Equal(d.GetAccount(), u) {
		t.Errorf("decoded account differs from the raw update")
	}
	if d.GetDecodedAt() == nil {
		t.Error("decoded_at not set")
	}
	if got.subject != bus.DecodedAccountSubject(solana.TokenProgramID[:], acct[:]) {
		t.Errorf("subject %s", got.subject)
	}
	for h, want := range map[string]string{
		bus.HeaderMsgID: id, bus.HeaderSlot: "101", bus.HeaderWriteVersion: "1010",
		bus.HeaderCommitment: "confirmed", bus.HeaderStatus: "OK",
	} {
		if v := got.header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
}

func TestAwaitingMintIsDecodedAgainWhenTheMintArrives(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep := e.start(replicaOpts{})
	r := e.reader("")

	mint, holder, acct := key(t), key(t), key(t)
	u := update(tokenProgram(), acct, tokenAccountData(mint, holder, 42), 200)
	id := e.publishRaw(u)
	got := r.next(wait)
	if got.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT {
		t.Fatalf("status %v, want AWAITING_MINT", got.msg.GetStatus())
	}
	if len(got.msg.GetParsed()) != 0 || !proto.Equal(got.msg.GetAccount(), u) || got.msg.GetError() == "" {
		t.Errorf("awaiting-mint message must carry the raw account, an error and no parsed JSON: %v", got.msg)
	}
	if got.header.Get(bus.HeaderStatus) != "AWAITING_MINT" || got.header.Get(bus.HeaderMsgID) != id {
		t.Errorf("headers %v", got.header)
	}
	if n := sum(t, rep, "firehole_parser_awaiting_mint_total"); n != 1 {
		t.Errorf("awaiting-mint counter %v, want 1", n)
	}

	e.publishRaw(update(tokenProgram(), mint, mintData(2, 1000), 205))
	seen := map[string]*fireholev1.DecodedAccount{}
	for range 2 { // the mint and the re-decoded account, in either order
		got := r.next(wait)
		seen[got.header.Get(bus.HeaderMsgID)] = got.msg
	}
	re, ok := seen[id+pipeline.RedecodeSuffix]
	if !ok {
		t.Fatalf("no re-decoded copy under %s; got ids %v", id+pipeline.RedecodeSuffix, keys(seen))
	}
	if re.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK {
		t.Fatalf("re-decode status %v (%s)", re.GetStatus(), re.GetError())
	}
	if re.GetAccount().GetSlot() != 200 || re.GetAccount().GetWriteVersion() != 2000 {
		t.Errorf("re-decode must keep the original slot and write version, got %d/%d", re.GetAccount().GetSlot(), re.GetAccount().GetWriteVersion())
	}
	contains(t, string(re.GetParsed()), `"decimals":2`, `"uiAmountString":"0.42"`)
	r.none(300 * time.Millisecond)
}

func TestUnknownProgramAndUndecodableData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep := e.start(replicaOpts{})
	r := e.reader("")

	cases := []struct {
		name    string
		u       *fireholev1.AccountUpdate
		status  fireholev1.DecodeStatus
		program string
	}{
		{"unknown program", update(key(t), key(t), []byte{1, 2, 3}, 10), fireholev1.DecodeStatus_DECODE_STATUS_UNKNOWN_PROGRAM, ""},
		// Solana RPC falls back to base64 for a layout its parser does not
		// know: not parsable, and not an error.
		{"token data too short", update(tokenProgram(), key(t), []byte{1, 2, 3, 4, 5, 6, 7}, 11), fireholev1.DecodeStatus_DECODE_STATUS_NOT_PARSABLE, "spl-token"},
		{"system wallet", update(solana.SystemProgramID, key(t), nil, 12), fireholev1.DecodeStatus_DECODE_STATUS_NOT_PARSABLE, "nonce"},
		// An Anchor account whose discriminator names a type but whose bytes
		// are cut short is an error.
		{"anchor account cut short", update(demoProgram(t), key(t), append(demoVaultDiscriminator(t), 1, 2, 3), 13), fireholev1.DecodeStatus_DECODE_STATUS_ERROR, "firehole_demo"},
	}
	for _, c := range cases {
		e.publishRaw(c.u)
		got := r.next(wait)
		d := got.msg
		if d.GetStatus() != c.status || d.GetProgram() != c.program {
			t.Errorf("%s: status %v program %q, want %v %q", c.name, d.GetStatus(), d.GetProgram(), c.status, c.program)
		}
		if d.GetError() == "" || len(d.GetParsed()) != 0 || d.GetJsonParsed() {
			t.Errorf("%s: want an error, no parsed JSON: %v", c.name, d)
		}
		if !proto.Equal(d.GetAccount(), c.u) {
			t.Errorf("%s: raw account not carried unchanged", c.name)
		}
	}
	if n := sum(t, rep, "firehole_parser_decode_errors_total"); n != 1 {
		t.Errorf("decode errors %v, want 1", n)
	}
}

func TestCorruptMessageIsDeadLetteredAndTheParserGoesOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(replicaOpts{})
	r := e.reader("")

	owner, pk := key(t), key(t)
	subject := bus.RawAccountSubject(owner[:], pk[:])
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m := nats.NewMsg(subject)
	m.Data = []byte{0xff, 0xff, 0xff, 0x01, 0x02}
	m.Header.Set(bus.HeaderMsgID, "corrupt-1")
	if _, err := e.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	good := update(owner, key(t), []byte{9}, 7)
	id := e.publishRaw(good)
	if got := r.next(wait); got.header.Get(bus.HeaderMsgID) != id {
		t.Fatalf("after the corrupt message got %s, want %s", got.header.Get(bus.HeaderMsgID), id)
	}

	dlq, err := e.js.OrderedConsumer(ctx, bus.StreamDLQ, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.DLQSubject("parser")}})
	if err != nil {
		t.Fatal(err)
	}
	dm, err := dlq.Next(jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	var dl fireholev1.DeadLetter
	if err := proto.Unmarshal(dm.Data(), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.GetSubject() != subject || string(dl.GetData()) != string(m.Data) || !strings.Contains(dl.GetError(), "unmarshal") || dl.GetStage() != "parser" {
		t.Errorf("dead letter %v", &dl)
	}
	r.none(300 * time.Millisecond) // nothing decoded from the corrupt message
}

func TestRedeliveryPublishesOneDecodedCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.start(replicaOpts{durable: "first"})
	r := e.reader("")
	const n = 50
	owner := key(t)
	for i := range n {
		e.publishRaw(update(owner, key(t), []byte{byte(i)}, uint64(1000+i)))
	}
	for range n {
		r.next(wait)
	}
	first.stop(t)

	// A second consumer from the start of the stream redelivers every raw
	// message, as a crash between publish and ack would.
	second := e.start(replicaOpts{durable: "second"})
	waitFor(t, func() bool {
		return sum(t, second, "firehole_parser_published_total") == n
	})
	r.none(300 * time.Millisecond)
	info, err := e.js.Stream(context.Background(), bus.StreamDecoded)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != n {
		t.Errorf("decoded stream holds %d messages, want %d", got, n)
	}
}

func TestPartitionsKeepAccountOrderAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(replicaOpts{partitions: []int{0, 1, 2, 3, 4, 5, 6, 7}})
	b := e.start(replicaOpts{partitions: []int{8, 9, 10, 11, 12, 13, 14, 15}})
	r := e.reader("")

	owner := key(t)
	var accounts [][32]byte
	for p := range 16 {
		accounts = append(accounts, keyInPartition(t, p))
	}
	const updates = 20
	for s := range updates {
		for _, acct := range accounts {
			e.publishRaw(update(owner, acct, []byte{byte(s)}, uint64(500+s)))
		}
	}
	last := map[string]uint64{}
	counts := map[string]int{}
	for range updates * len(accounts) {
		d := r.next(wait).msg
		pk := base58.Encode(d.GetAccount().GetPubkey())
		if s := d.GetAccount().GetSlot(); s <= last[pk] {
			t.Fatalf("account %s: slot %d after %d", pk, s, last[pk])
		} else {
			last[pk] = s
		}
		counts[pk]++
	}
	for _, acct := range accounts {
		if c := counts[base58.Encode(acct[:])]; c != updates {
			t.Errorf("account %x: %d updates, want %d", acct[:4], c, updates)
		}
	}
	for name, rep := range map[string]*replica{"a": a, "b": b} {
		// A publish is counted when its PubAck reaches the parser, which
		// can be after the reader has the message.
		waitFor(t, func() bool { return sum(t, rep, "firehole_parser_published_total") >= updates*8 })
		if n := sum(t, rep, "firehole_parser_published_total"); n != updates*8 {
			t.Errorf("replica %s published %v, want %d (its 8 partitions)", name, n, updates*8)
		}
		// Consumer lag is polled for exactly the replica's own partitions.
		waitFor(t, func() bool { return series(t, rep, "firehole_parser_consumer_pending_messages") == 8 })
	}
}

func TestMintFromRedis(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	prefix := testenv.Name(t) + ":"
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)

	mint, holder, acct := key(t), key(t), key(t)
	stored, err := proto.Marshal(&fireholev1.DecodedAccount{
		Account: update(tokenProgram(), mint, mintData(9, 1), 50),
		Status:  fireholev1.DecodeStatus_DECODE_STATUS_OK,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := accountcache.AccountKey(prefix, base58.Encode(mint[:]))
	if err := rc.Do(ctx, rc.B().Hset().Key(k).FieldValue().FieldValue(accountcache.FieldPB, rueidis.BinaryString(stored)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Do(context.Background(), rc.B().Del().Key(k).Build()) })

	e := newEnv(t)
	rep := e.start(replicaOpts{lookup: mints.NewRedisLookup(rc, prefix)})
	r := e.reader("")
	e.publishRaw(update(tokenProgram(), acct, tokenAccountData(mint, holder, 3_000_000_000), 60))
	d := r.next(wait).msg
	if d.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK {
		t.Fatalf("status %v (%s), want OK from the mint in Redis", d.GetStatus(), d.GetError())
	}
	contains(t, string(d.GetParsed()), `"decimals":9`, `"uiAmountString":"3"`)
	if n := sum(t, rep, "firehole_parser_mint_lookups_total"); n != 1 {
		t.Errorf("mint lookups %v, want 1", n)
	}
}

// sum adds up every series of the metric family name in the replica's
// registry (0 when it has none yet).
func sum(t testing.TB, rep *replica, name string) float64 {
	t.Helper()
	fams, err := rep.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var total float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

// series counts the series of the metric family name.
func series(t testing.TB, rep *replica, name string) int {
	t.Helper()
	fams, err := rep.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestReplicaLearnsMintOfAnotherPartitionFromRedis: the mint lives in a
// partition of replica A, the token account in one of replica B. B publishes
// AWAITING_MINT, and once the mint reaches Redis (as the cacher would write
// it after A decoded it) B's back-off re-check finds it and republishes the
// account decoded under "<id>:m".
func TestReplicaLearnsMintOfAnotherPartitionFromRedis(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	prefix := testenv.Name(t) + ":"
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)

	e := newEnv(t)
	e.start(replicaOpts{partitions: []int{0, 1, 2, 3, 4, 5, 6, 7}, lookup: mints.NewRedisLookup(rc, prefix)})
	e.start(replicaOpts{partitions: []int{8, 9, 10, 11, 12, 13, 14, 15}, lookup: mints.NewRedisLookup(rc, prefix)})
	r := e.reader("")

	mint, acct := keyInPartition(t, 3), keyInPartition(t, 12)
	id := e.publishRaw(update(tokenProgram(), acct, tokenAccountData(mint, key(t), 250), 70))
	if got := r.next(wait); got.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT {
		t.Fatalf("status %v, want AWAITING_MINT", got.msg.GetStatus())
	}
	mintUpdate := update(tokenProgram(), mint, mintData(1, 1), 71)
	e.publishRaw(mintUpdate)
	got := r.next(wait)
	if got.msg.GetAccountType() != "mint" {
		t.Fatalf("want the mint decoded by replica A, got %q %v", got.msg.GetAccountType(), got.msg.GetStatus())
	}
	r.none(500 * time.Millisecond) // B cannot know the mint yet

	stored, err := proto.Marshal(got.msg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := accountcache.AccountKey(prefix, base58.Encode(mint[:]))
	if err := rc.Do(ctx, rc.B().Hset().Key(k).FieldValue().FieldValue(accountcache.FieldPB, rueidis.BinaryString(stored)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Do(context.Background(), rc.B().Del().Key(k).Build()) })

	got = r.next(wait)
	if got.header.Get(bus.HeaderMsgID) != id+pipeline.RedecodeSuffix || got.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK {
		t.Fatalf("got %s %v, want %s OK", got.header.Get(bus.HeaderMsgID), got.msg.GetStatus(), id+pipeline.RedecodeSuffix)
	}
	contains(t, string(got.msg.GetParsed()), `"decimals":1`, `"uiAmountString":"25"`)
}

func demoProgram(t *testing.T) [32]byte {
	k, err := base58.Decode32("9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func demoVaultDiscriminator(t *testing.T) []byte {
	d, err := hex.DecodeString("d308e82b02987577")
	if err != nil {
		t.Fatal(err)
	}
	return d
}
