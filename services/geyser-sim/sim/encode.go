package sim

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// acctUpdate is one account update as the ring stores it: the encoded
// SubscribeUpdate (without the per-client `filters` field) plus views into it
// for filtering and re-encoding. Immutable once in the ring.
type acctUpdate struct {
	enc                      []byte
	pubkey, owner, data, sig []byte
	hasSig                   bool
	lamports, rentEpoch, wv  uint64
	slot                     uint64
	executable, startup      bool
	sec                      int64
	nanos                    int32
}

// acctFields is what an account update is encoded from.
type acctFields struct {
	pubkey, owner, data, sig []byte
	hasSig                   bool
	lamports, rentEpoch, wv  uint64
	slot                     uint64
	executable, startup      bool
	created                  time.Time
}

func sizeTagBytes(n int) int { return 1 + protowire.SizeBytes(n) }
func sizeTagVarint(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

// appendAccount appends a SubscribeUpdate{account, created_at} encoding of f
// to b, with data replaced by `data` (the full or sliced data), and fills the
// views of u (which may be nil).
func appendAccount(b []byte, f *acctFields, data []byte, u *acctUpdate) []byte {
	info := sizeTagBytes(len(f.pubkey)) + sizeTagVarint(f.lamports) + sizeTagBytes(len(f.owner)) +
		sizeTagVarint(f.rentEpoch) + sizeTagVarint(f.wv)
	if f.executable {
		info += 2
	}
	if len(data) > 0 {
		info += sizeTagBytes(len(data))
	}
	if f.hasSig {
		info += sizeTagBytes(len(f.sig))
	}
	acct := sizeTagBytes(info) + sizeTagVarint(f.slot)
	if f.startup {
		acct += 2
	}
	sec, nanos := f.created.Unix(), int32(f.created.Nanosecond())
	ts := sizeTagVarint(uint64(sec)) + sizeTagVarint(uint64(nanos))

	start := len(b)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(acct))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(info))

	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(f.pubkey)))
	pk := len(b)
	b = append(b, f.pubkey...)
	if f.lamports != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, f.lamports)
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(f.owner)))
	ow := len(b)
	b = append(b, f.owner...)
	if f.executable {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = append(b, 1)
	}
	if f.rentEpoch != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, f.rentEpoch)
	}
	da := len(b)
	if len(data) > 0 {
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(data)))
		da = len(b)
		b = append(b, data...)
	}
	if f.wv != 0 {
		b = protowire.AppendTag(b, 7, protowire.VarintType)
		b = protowire.AppendVarint(b, f.wv)
	}
	sg := len(b)
	if f.hasSig {
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(f.sig)))
		sg = len(b)
		b = append(b, f.sig...)
	}
	if f.slot != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, f.slot)
	}
	if f.startup {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = append(b, 1)
	}
	b = protowire.AppendTag(b, 11, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(ts))
	if sec != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(sec))
	}
	if nanos != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(nanos))
	}
	if u != nil {
		enc := b[start:len(b):len(b)]
		u.enc = enc
		u.pubkey = enc[pk-start : pk-start+len(f.pubkey)]
		u.owner = enc[ow-start : ow-start+len(f.owner)]
		u.data = enc[da-start : da-start+len(data)]
		u.sig = enc[sg-start : sg-start+len(f.sig)]
		if !f.hasSig {
			u.sig = nil
		}
		u.hasSig = f.hasSig
		u.lamports, u.rentEpoch, u.wv, u.slot = f.lamports, f.rentEpoch, f.wv, f.slot
		u.executable, u.startup = f.executable, f.startup
		u.sec, u.nanos = sec, nanos
	}
	return b
}

// fields recovers the encoding inputs of u.
func (u *acctUpdate) fields() acctFields {
	return acctFields{
		pubkey: u.pubkey, owner: u.owner, data: u.data, sig: u.sig, hasSig: u.hasSig,
		lamports: u.lamports, rentEpoch: u.rentEpoch, wv: u.wv, slot: u.slot,
		executable: u.executable, startup: u.startup, created: time.Unix(u.sec, int64(u.nanos)),
	}
}

// appendFilters appends the `filters` field (1, repeated string).
func appendFilters(b []byte, names []string) []byte {
	for _, n := range names {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	return b
}

// sliceData concatenates the requested ranges of data, each clipped to it.
func sliceData(dst, data []byte, slices []dataSlice) []byte {
	for _, s := range slices {
		if s.offset >= uint64(len(data)) {
			continue
		}
		end := uint64(len(data))
		if s.length < end-s.offset {
			end = s.offset + s.length
		}
		dst = append(dst, data[s.offset:end]...)
	}
	return dst
}
