package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	pkgconfig "github.com/firehole/firehole/pkg/config"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/ingestor/internal/backfill/backfilltest"
)

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func key(seed string, i int) [32]byte {
	var k [32]byte
	copy(k[:], fmt.Sprintf("%s-%d", seed, i))
	k[31] = byte(i)
	return k
}

// programAccounts are n accounts of program, of every shape an account can have.
func programAccounts(program [32]byte, n int) []backfilltest.Account {
	out := make([]backfilltest.Account, n)
	for i := range out {
		a := backfilltest.Account{Pubkey: key(base58.Encode32(&program)[:8], i), Owner: program,
			Lamports: 1_000_000 + uint64(i), RentEpoch: math.MaxUint64, Data: bytes.Repeat([]byte{byte(i)}, i%200)}
		if i%7 == 3 {
			a.Executable, a.RentEpoch = true, 361
		}
		out[i] = a
	}
	return out
}

func entries(accts []backfilltest.Account) []string {
	out := make([]string, len(accts))
	for i, a := range accts {
		out[i] = a.JSON()
	}
	return out
}

// runBF runs `ingestor backfill args...` against NATS at natsURL.
func runBF(t *testing.T, natsURL string, env map[string]string, args ...string) (stdout, logs string, err error) {
	t.Helper()
	getenv := func(k string) string {
		if k == "INGESTOR_NATS_URL" {
			return natsURL
		}
		return env[k]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var log lockedBuffer
	err = runBackfill(ctx, args, getenv, &out, &log)
	return out.String(), log.String(), err
}

// rawAccounts reads every raw account message of the stream.
func rawAccounts(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		if strings.HasPrefix(m.Subject, bus.RawAccountRoot+".") {
			out = append(out, m)
		}
	}
	return out
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	n, err := countRaw(js)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countRaw is the number of messages in FIREHOLE_RAW (safe off the test goroutine).
func countRaw(js jetstream.JetStream) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

func TestBackfillPublishesEveryAccountOnce(t *testing.T) {
	ns := bustest.Start(t) // no streams yet: the backfill creates them
	_, js := bustest.Connect(t, ns.URL)
	node := backfilltest.Start(t)
	progA, progB := key("program-a", 0), key("program-b", 1)
	pa, pb := base58.Encode32(&progA), base58.Encode32(&progB)
	acctsA, acctsB := programAccounts(progA, 40), programAccounts(progB, 9)
	node.Entries[pa], node.Entries[pb] = entries(acctsA), entries(acctsB)
	node.Slot, node.GetSlot = 250_000_123, 250_000_120
	filters := `[{"dataSize":165},{"memcmp":{"offset":32,"bytes":"` + pb + `"}},{"memcmp":{"offset":0,"bytes":"AQID","encoding":"base64"}}]`

	stdout, logs, err := runBF(t, ns.URL, map[string]string{"INGESTOR_OWNERS": pa + "," + pb},
		"-rpc", node.URL, "-filters", filters, "-commitment", "finalized")
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, logs)
	}
	if !strings.Contains(stdout, "2 programs, 49 accounts published (0 already in the stream), 0 skipped") {
		t.Errorf("summary:\n%s", stdout)
	}

	// The requests: getSlot then getProgramAccounts per program, params as asked.
	reqs := node.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4: %+v", len(reqs), reqs)
	}
	for i, want := range []string{pa, pb} {
		gs, gpa := reqs[2*i], reqs[2*i+1]
		if gs.Method != "getSlot" || string(gs.Params[0]) != `{"commitment":"finalized"}` {
			t.Errorf("request %d: %s %s", 2*i, gs.Method, gs.Params)
		}
		if gpa.Method != "getProgramAccounts" || len(gpa.Params) != 2 {
			t.Fatalf("request %d: %s %s", 2*i+1, gpa.Method, gpa.Params)
		}
		var program string
		var opts struct {
			Encoding    string          `json:"encoding"`
			Commitment  string          `json:"commitment"`
			WithContext *bool           `json:"withContext"`
			Filters     json.RawMessage `json:"filters"`
		}
		if json.Unmarshal(gpa.Params[0], &program) != nil || json.Unmarshal(gpa.Params[1], &opts) != nil {
			t.Fatalf("params %s", gpa.Params)
		}
		if program != want || opts.Encoding != "base64" || opts.Commitment != "finalized" || opts.WithContext == nil || !*opts.WithContext {
			t.Errorf("getProgramAccounts params %s", gpa.Params)
		}
		var got, sent any
		_ = json.Unmarshal(opts.Filters, &got)
		_ = json.Unmarshal([]byte(filters), &sent)
		if fmt.Sprint(got) != fmt.Sprint(sent) {
			t.Errorf("filters %s, want %s", opts.Filters, filters)
		}
	}

	byID := map[string]backfilltest.Account{}
	for _, a := range append(append([]backfilltest.Account(nil), acctsA...), acctsB...) {
		u := &fireholev1.AccountUpdate{Pubkey: a.Pubkey[:], Owner: a.Owner[:], Lamports: a.Lamports,
			Executable: a.Executable, RentEpoch: a.RentEpoch, Data: a.Data, Slot: node.Slot,
			Commitment: fireholev1.Commitment_COMMITMENT_FINALIZED}
		byID[bus.AccountMsgID(u)] = a
	}
	msgs := rawAccounts(t, js)
	if len(msgs) != len(byID) {
		t.Fatalf("%d raw account messages, want %d", len(msgs), len(byID))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Header.Get(bus.HeaderMsgID)
		a, ok := byID[id]
		if !ok || seen[id] {
			t.Fatalf("message id %q unknown or seen twice", id)
		}
		seen[id] = true
		var u fireholev1.AccountUpdate
		if err := proto.Unmarshal(m.Data, &u); err != nil {
			t.Fatal(err)
		}
		if m.Subject != bus.RawAccountSubject(a.Owner[:], a.Pubkey[:]) {
			t.Errorf("subject %s", m.Subject)
		}
		for h, want := range map[string]string{
			bus.HeaderSlot: strconv.FormatUint(node.Slot, 10), bus.HeaderWriteVersion: "0",
			bus.HeaderCommitment: "finalized", bus.HeaderSource: "backfill",
		} {
			if got := m.Header.Get(h); got != want {
				t.Errorf("%s: header %s = %q, want %q", m.Subject, h, got, want)
			}
		}
		if !bytes.Equal(u.Pubkey, a.Pubkey[:]) || !bytes.Equal(u.Owner, a.Owner[:]) || u.Lamports != a.Lamports ||
			u.Executable != a.Executable || u.RentEpoch != a.RentEpoch || !bytes.Equal(u.Data, a.Data) ||
			u.Slot != node.Slot || u.WriteVersion != 0 || u.Source != "backfill" ||
			u.Commitment != fireholev1.Commitment_COMMITMENT_FINALIZED || u.IngestedAt == nil || u.CreatedAt != nil {
			t.Errorf("%s: update %v", m.Subject, &u)
		}
		if bus.AccountMsgID(&u) != id {
			t.Errorf("%s: msg id %s is not the update's %s", m.Subject, id, bus.AccountMsgID(&u))
		}
	}

	// Again at the same slot: JetStream drops every message as a duplicate.
	before := streamMsgs(t, js)
	stdout, logs, err = runBF(t, ns.URL, map[string]string{"INGESTOR_OWNERS": pa + "," + pb},
		"-rpc", node.URL, "-filters", filters, "-commitment", "finalized")
	if err != nil {
		t.Fatalf("second backfill: %v\n%s", err, logs)
	}
	if after := streamMsgs(t, js); after != before {
		t.Errorf("second run at the same slot: %d messages, want %d", after, before)
	}
	if !strings.Contains(stdout, "49 accounts published (49 already in the stream)") {
		t.Errorf("second summary:\n%s", stdout)
	}
}

func TestBackfillLeavesExistingStreamsAlone(t *testing.T) {
	ns := bustest.Start(t)
	_, js := bustest.Connect(t, ns.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := bus.DefaultStreamOptions()
	o.MaxAge, o.DuplicateWindow = 3*time.Hour, 5*time.Minute
	if err := bus.EnsureStreams(ctx, js, o); err != nil {
		t.Fatal(err)
	}
	node := backfilltest.Start(t)
	prog := key("program", 2)
	node.Entries[base58.Encode32(&prog)] = entries(programAccounts(prog, 3))
	node.Slot = 77
	_, logs, err := runBF(t, ns.URL, map[string]string{"INGESTOR_STREAM_MAX_AGE": "24h"},
		"-rpc", node.URL, "-program", base58.Encode32(&prog))
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, logs)
	}
	st, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 3*time.Hour || info.Config.Duplicates != 5*time.Minute || info.State.Msgs != 3 {
		t.Errorf("stream after backfill: max age %s, duplicates %s, %d messages", info.Config.MaxAge, info.Config.Duplicates, info.State.Msgs)
	}
}

// A large answer is decoded as it arrives: accounts are in JetStream while
// the node still holds back the second half of its answer.
func TestBackfillLargeAnswerStreams(t *testing.T) {
	ns, _, js := bustest.StartWithStreams(t)
	node := backfilltest.Start(t)
	prog := key("big-program", 3)
	const n = 50_000
	accts := make([]backfilltest.Account, n)
	for i := range accts {
		var pk [32]byte
		copy(pk[:], "big-account")
		pk[28], pk[29], pk[30], pk[31] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		accts[i] = backfilltest.Account{Pubkey: pk, Owner: prog, Lamports: 2039280, RentEpoch: math.MaxUint64,
			Data: bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 82)}
	}
	node.Entries[base58.Encode32(&prog)] = entries(accts)
	node.Slot = 300_000_000
	sawEarly := make(chan uint64, 1)
	node.AfterEntries = n / 2
	node.After = func() {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if m, err := countRaw(js); err == nil && m > 0 {
				sawEarly <- m
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		sawEarly <- 0
	}
	stdout, logs, err := runBF(t, ns.URL, nil, "-rpc", node.URL, "-program", base58.Encode32(&prog))
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, logs)
	}
	if early := <-sawEarly; early == 0 {
		t.Error("nothing was published before the answer was complete")
	}
	if got := streamMsgs(t, js); got != n {
		t.Errorf("%d messages in the stream, want %d", got, n)
	}
	if !strings.Contains(stdout, fmt.Sprintf("%d accounts published", n)) {
		t.Errorf("summary:\n%s", stdout)
	}
}

func TestBackfillValueBeforeContextUsesGetSlot(t *testing.T) {
	ns, _, js := bustest.StartWithStreams(t)
	node := backfilltest.Start(t)
	prog := key("program", 4)
	node.Entries[base58.Encode32(&prog)] = entries(programAccounts(prog, 5))
	node.Slot, node.GetSlot, node.ValueFirst = 1000, 990, true
	stdout, logs, err := runBF(t, ns.URL, nil, "-rpc", node.URL, "-program", base58.Encode32(&prog))
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, logs)
	}
	msgs := rawAccounts(t, js)
	if len(msgs) != 5 {
		t.Fatalf("%d messages, want 5", len(msgs))
	}
	for _, m := range msgs {
		if m.Header.Get(bus.HeaderSlot) != "990" || m.Header.Get(bus.HeaderCommitment) != "confirmed" {
			t.Errorf("%s: slot %s commitment %s, want the getSlot slot 990 at confirmed", m.Subject,
				m.Header.Get(bus.HeaderSlot), m.Header.Get(bus.HeaderCommitment))
		}
	}
	reqs := node.Requests()
	if len(reqs) != 2 || reqs[0].Method != "getSlot" || string(reqs[0].Params[0]) != `{"commitment":"confirmed"}` {
		t.Errorf("requests %+v: want getSlot (confirmed) before getProgramAccounts", reqs)
	}
	if !strings.Contains(stdout, "slot 990 (getSlot)") {
		t.Errorf("summary:\n%s", stdout)
	}
}

func TestBackfillSkipsMalformedEntries(t *testing.T) {
	ns, _, js := bustest.StartWithStreams(t)
	node := backfilltest.Start(t)
	prog := key("program", 5)
	good := programAccounts(prog, 4)
	pk := func(i int) string { k := key("bad", i); return base58.Encode32(&k) }
	owner := base58.Encode32(&prog)
	bad := []string{
		`{"pubkey":"not-base58-0OIl","account":{"lamports":1,"data":["","base64"],"owner":"` + owner + `","executable":false,"rentEpoch":0,"space":0}}`,
		`{"pubkey":"` + pk(1) + `","account":{"lamports":1,"data":["","base64"],"owner":"short","executable":false,"rentEpoch":0,"space":0}}`,
		`{"pubkey":"` + pk(2) + `","account":{"lamports":1,"data":["!!!not base64","base64"],"owner":"` + owner + `","executable":false,"rentEpoch":0,"space":0}}`,
		`{"pubkey":"` + pk(3) + `","account":{"data":["","base64"],"owner":"` + owner + `","executable":false,"rentEpoch":0,"space":0}}`,
		`{"pubkey":"` + pk(4) + `","account":{"lamports":"many","data":["","base64"],"owner":"` + owner + `","executable":false,"rentEpoch":0,"space":0}}`,
		`{"pubkey":"` + pk(5) + `","account":{"lamports":1,"data":"AQID","owner":"` + owner + `","executable":false,"rentEpoch":0,"space":3}}`,
		`{"pubkey":"` + pk(6) + `"}`,
		`{"pubkey":"` + pk(7) + `","account":{"lamports":1,"data":["AQID","base58"],"owner":"` + owner + `","executable":false,"rentEpoch":0,"space":3}}`,
		`"not an entry"`,
	}
	es := entries(good)
	node.Entries[owner] = []string{es[0], bad[0], bad[1], es[1], bad[2], bad[3], bad[4], es[2], bad[5], bad[6], bad[7], bad[8], es[3]}
	node.Slot = 55
	stdout, logs, err := runBF(t, ns.URL, nil, "-rpc", node.URL, "-program", owner)
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, logs)
	}
	if got := len(rawAccounts(t, js)); got != len(good) {
		t.Errorf("%d messages, want the %d good accounts", got, len(good))
	}
	if !strings.Contains(stdout, fmt.Sprintf("%d accounts published (0 already in the stream), %d skipped", len(good), len(bad))) {
		t.Errorf("summary:\n%s", stdout)
	}
	if n := strings.Count(logs, "malformed account skipped"); n != len(bad) {
		t.Errorf("%d malformed-entry log lines, want %d:\n%s", n, len(bad), logs)
	}
	for _, want := range []string{"not-base58-0OIl", pk(1), pk(2), pk(3), pk(4), pk(5), pk(6), pk(7)} {
		if !strings.Contains(logs, `"pubkey":"`+want+`"`) {
			t.Errorf("no log line names %s", want)
		}
	}
}

func TestBackfillRPCFailuresNameTheProgram(t *testing.T) {
	ns, _, js := bustest.StartWithStreams(t)
	prog := key("program", 6)
	program := base58.Encode32(&prog)
	for _, tc := range []struct {
		name  string
		setup func(n *backfilltest.Node)
		want  string
	}{
		{"rpc error object", func(n *backfilltest.Node) {
			n.Error = &struct {
				Code    int
				Message string
			}{-32010, program + " excluded from account secondary indexes; this RPC method unavailable for key"}
		}, "rpc error -32010"},
		{"http 500", func(n *backfilltest.Node) { n.HTTPStatus = 500 }, "http 500"},
		{"truncated", func(n *backfilltest.Node) {
			n.Entries[program] = []string{`{"pubkey":"` + program + `","account":{"lamports":1,`}
		}, "read accounts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := backfilltest.Start(t)
			node.Slot = 9
			tc.setup(node)
			stdout, _, err := runBF(t, ns.URL, nil, "-rpc", node.URL, "-program", program)
			if err == nil {
				t.Fatalf("no error; summary:\n%s", stdout)
			}
			if !strings.Contains(err.Error(), "program "+program) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the program and %q", err, tc.want)
			}
		})
	}
	if m := streamMsgs(t, js); m != 0 {
		t.Errorf("%d messages after failed requests", m)
	}
}

// A node that stops sending in the middle of an answer: -timeout ends the
// request and the error names the program.
func TestBackfillTimeout(t *testing.T) {
	ns, _, _ := bustest.StartWithStreams(t)
	node := backfilltest.Start(t)
	prog := key("program", 8)
	program := base58.Encode32(&prog)
	node.Entries[program] = entries(programAccounts(prog, 4))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the server closes
	node.AfterEntries, node.After = 2, func() { <-release }
	_, _, err := runBF(t, ns.URL, nil, "-rpc", node.URL, "-program", program, "-timeout", "1s")
	if err == nil || !strings.Contains(err.Error(), "program "+program) || !strings.Contains(err.Error(), "-timeout 1s") {
		t.Fatalf("error %v: want the program and the timeout named", err)
	}
}

func TestBackfillBadFlags(t *testing.T) {
	prog := key("program", 7)
	program := base58.Encode32(&prog)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"no rpc", []string{"-program", program}, nil, []string{"-rpc: must be set"}},
		{"rpc scheme", []string{"-rpc", "ws://node", "-program", program}, nil, []string{"-rpc:"}},
		{"no program", []string{"-rpc", "http://node"}, nil, []string{"-program: no program"}},
		{"bad program", []string{"-rpc", "http://node", "-program", program + ",xyz"}, nil, []string{`-program: "xyz"`}},
		{"bad owners", []string{"-rpc", "http://node"}, map[string]string{"INGESTOR_OWNERS": "0x12"}, []string{"INGESTOR_OWNERS"}},
		{"filters not json", []string{"-rpc", "http://node", "-program", program, "-filters", "{"}, nil, []string{"-filters:"}},
		{"filters not array", []string{"-rpc", "http://node", "-program", program, "-filters", `{"dataSize":1}`}, nil, []string{"-filters:"}},
		{"memcmp bytes", []string{"-rpc", "http://node", "-program", program, "-filters", `[{"memcmp":{"offset":0,"bytes":"0OIl"}}]`}, nil, []string{"-filters: filter 1: memcmp"}},
		{"memcmp encoding", []string{"-rpc", "http://node", "-program", program, "-filters", `[{"memcmp":{"offset":0,"bytes":"AQ==","encoding":"hex"}}]`}, nil, []string{"-filters: filter 1: memcmp: encoding"}},
		{"dataSize", []string{"-rpc", "http://node", "-program", program, "-filters", `[{"dataSize":-1}]`}, nil, []string{"-filters: filter 1: dataSize"}},
		{"too many filters", []string{"-rpc", "http://node", "-program", program, "-filters", `[{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1}]`}, nil, []string{"-filters: 5 filters"}},
		{"commitment", []string{"-rpc", "http://node", "-program", program, "-commitment", "max"}, nil, []string{"-commitment:"}},
		{"env commitment", []string{"-rpc", "http://node", "-program", program}, map[string]string{"INGESTOR_COMMITMENT": "recent"}, []string{"INGESTOR_COMMITMENT"}},
		{"timeout", []string{"-rpc", "http://node", "-program", program, "-timeout", "0s"}, nil, []string{"-timeout:"}},
		{"unknown flag", []string{"-rpc", "http://node", "-program", program, "-slot", "5"}, nil, []string{"-slot"}},
		{"all at once", []string{"-rpc", "", "-program", "xyz", "-commitment", "max"}, nil, []string{"-rpc:", "-program:", "-commitment:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No NATS is needed: configuration is checked first.
			_, _, err := runBF(t, "nats://127.0.0.1:1", tc.env, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestBackfillHelp(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), []string{"backfill", "-help"}, &out)
	if !errors.Is(err, pkgconfig.ErrHelp) || pkgconfig.Exit(err) != 0 {
		t.Fatalf("help: %v", err)
	}
	for _, want := range []string{"-rpc", "-program", "-filters", "-commitment", "-timeout", "INGESTOR_NATS_URL", "INGESTOR_OWNERS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %s:\n%s", want, out.String())
		}
	}
}
