package recent

import (
	"crypto/rand"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// BenchmarkNote is the cost the gateway adds per bus message: one distinct
// account each time (the fan-out load client's pattern).
func BenchmarkNote(b *testing.B) {
	r := New(10*time.Second, 100_000, 64<<20)
	as := make([]*fireholev1.DecodedAccount, 4096)
	pbs := make([][]byte, len(as))
	for i := range as {
		pk := make([]byte, 32)
		_, _ = rand.Read(pk)
		as[i] = &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: pk, Slot: uint64(i), Data: make([]byte, 165)}}
		pbs[i], _ = proto.Marshal(as[i])
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a := as[i%len(as)]
		a.Account.Pubkey[0] = byte(i >> 12) // a new key every round
		r.Note(pbs[i%len(pbs)], a)
	}
}
