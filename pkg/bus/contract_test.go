package bus

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"encoding/hex"

	"github.com/nats-io/nats.go/jetstream"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// contractDoc is the machine-readable part of docs/bus-contract.md.
type contractDoc struct {
	Version    string            `json:"version"`
	Partitions int               `json:"partitions"`
	PartFunc   string            `json:"partition_function"`
	Subjects   map[string]string `json:"subjects"`
	Headers    []string          `json:"headers"`
	Streams    []struct {
		Name            string   `json:"name"`
		Subjects        []string `json:"subjects"`
		Retention       string   `json:"retention"`
		Discard         string   `json:"discard"`
		MaxAge          string   `json:"max_age"`
		MaxBytes        int64    `json:"max_bytes"`
		DuplicateWindow string   `json:"duplicate_window"`
	} `json:"streams"`
	Examples []struct {
		Owner      string `json:"owner"`
		Pubkey     string `json:"pubkey"`
		RawSubject string `json:"raw_subject"`
		Slot       uint64 `json:"slot"`
		Lamports   uint64 `json:"lamports"`
		DataHex    string `json:"data_hex"`
		Commitment string `json:"commitment"`
		MsgID      string `json:"msg_id"`
	} `json:"examples"`
}

func readContract(t *testing.T) contractDoc {
	t.Helper()
	raw, err := os.ReadFile("../../docs/bus-contract.md")
	if err != nil {
		t.Fatalf("read contract: %v", err)
	}
	_, rest, ok := bytes.Cut(raw, []byte("<!-- contract:begin -->"))
	block, _, ok2 := bytes.Cut(rest, []byte("<!-- contract:end -->"))
	if !ok || !ok2 {
		t.Fatal("docs/bus-contract.md lacks the contract:begin/end block")
	}
	block = bytes.TrimSpace(block)
	block = bytes.TrimPrefix(block, []byte("```json"))
	block = bytes.TrimSuffix(block, []byte("```"))
	var doc contractDoc
	dec := json.NewDecoder(bytes.NewReader(block))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("parse contract block: %v", err)
	}
	return doc
}

// TestContractMatchesCode fails when the subjects, headers or stream settings
// in code drift from docs/bus-contract.md.
func TestContractMatchesCode(t *testing.T) {
	doc := readContract(t)
	if doc.Version != Version || doc.Partitions != Partitions {
		t.Errorf("version/partitions: doc %s/%d, code %s/%d", doc.Version, doc.Partitions, Version, Partitions)
	}
	subjects := map[string]string{
		"raw_account":     RawAccountRoot + ".<owner>.<pubkey>.<partition>",
		"raw_slot":        RawSlotRoot + ".<status>",
		"gap":             GapSubject,
		"decoded_account": DecodedAccountRoot + ".<owner>.<pubkey>.<partition>",
		"dlq":             DLQRoot + ".<stage>",
	}
	if !reflect.DeepEqual(doc.Subjects, subjects) {
		t.Errorf("subjects:\n doc  %v\n code %v", doc.Subjects, subjects)
	}
	headers := []string{HeaderMsgID, HeaderSlot, HeaderWriteVersion, HeaderCommitment, HeaderSource, HeaderStatus, HeaderError}
	if !reflect.DeepEqual(doc.Headers, headers) {
		t.Errorf("headers:\n doc  %v\n code %v", doc.Headers, headers)
	}
	streams := Streams(DefaultStreamOptions())
	if len(doc.Streams) != len(streams) {
		t.Fatalf("doc has %d streams, code %d", len(doc.Streams), len(streams))
	}
	for i, s := range streams {
		d := doc.Streams[i]
		want := []string{s.Name, strings.Join(s.Subjects, ","), retention(s.Retention), discard(s.Discard), s.MaxAge.String(), s.Duplicates.String()}
		got := []string{d.Name, strings.Join(d.Subjects, ","), d.Retention, d.Discard, d.MaxAge, d.DuplicateWindow}
		if !reflect.DeepEqual(got, want) || d.MaxBytes != s.MaxBytes {
			t.Errorf("stream %d:\n doc  %v %d\n code %v %d", i, got, d.MaxBytes, want, s.MaxBytes)
		}
	}
	for _, ex := range doc.Examples {
		owner, pub := mustKey(t, ex.Owner), mustKey(t, ex.Pubkey)
		if got := RawAccountSubject(owner, pub); got != ex.RawSubject {
			t.Errorf("example subject: doc %s, code %s", ex.RawSubject, got)
		}
		if ex.MsgID == "" {
			continue
		}
		data, err := hex.DecodeString(ex.DataHex)
		if err != nil {
			t.Fatal(err)
		}
		u := &fireholev1.AccountUpdate{Pubkey: pub, Owner: owner, Slot: ex.Slot, Lamports: ex.Lamports, Data: data,
			Commitment: fireholev1.Commitment(fireholev1.Commitment_value["COMMITMENT_"+strings.ToUpper(ex.Commitment)])}
		if got := AccountMsgID(u); got != ex.MsgID {
			t.Errorf("example msg id: doc %s, code %s", ex.MsgID, got)
		}
	}
}

func retention(r jetstream.RetentionPolicy) string {
	switch r {
	case jetstream.LimitsPolicy:
		return "limits"
	case jetstream.InterestPolicy:
		return "interest"
	}
	return "workqueue"
}

func discard(d jetstream.DiscardPolicy) string {
	if d == jetstream.DiscardOld {
		return "old"
	}
	return "new"
}
