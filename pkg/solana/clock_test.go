package solana

import (
	"encoding/binary"
	"testing"
)

func TestClockUnixTimestamp(t *testing.T) {
	d := make([]byte, 40)
	binary.LittleEndian.PutUint64(d[32:], uint64(1_700_000_000))
	if ts, ok := ClockUnixTimestamp(d); !ok || ts != 1_700_000_000 {
		t.Fatalf("got %d %v", ts, ok)
	}
	if _, ok := ClockUnixTimestamp(d[:39]); ok {
		t.Fatal("short data read")
	}
}
