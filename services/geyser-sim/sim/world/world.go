// Package world is the simulator's deterministic Solana-like account world:
// SPL Token and Token-2022 mints and token accounts, system wallets, nonce
// accounts and the accounts of the demo Anchor program
// (deploy/idl/firehole_demo.json).
//
// Given the same Config and the same sequence of BeginSlot/Tx calls, a World
// produces the same updates byte for byte; nothing depends on wall time.
// A World is not safe for concurrent use.
package world

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana"
)

// DemoProgramID is the address of the demo Anchor program (the IDL's "address").
var DemoProgramID = mustKey("9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx")

// Anchor account discriminators: sha256("account:<Name>")[:8].
var (
	VaultDiscriminator    = discriminator("Vault")
	PositionDiscriminator = discriminator("Position")
)

// Layout sizes and offsets.
const (
	MintLen         = 82
	TokenAccountLen = 165
	NonceLen        = 80
	VaultLen        = 8 + 32 + 32 + 8 + 1 + 8

	TokenAmountOffset = 64
	MintSupplyOffset  = 36

	// RentEpochExempt is the rent_epoch of rent-exempt accounts (u64::MAX).
	RentEpochExempt = ^uint64(0)

	// Token-2022 TLV extension types used here.
	ExtTransferFeeConfig  = 1
	ExtTransferFeeAmount  = 2
	ExtMintCloseAuthority = 3
	ExtImmutableOwner     = 7
	ExtMetadataPointer    = 18

	accountTypeMint    = 1
	accountTypeAccount = 2

	txFee = 5000
)

// Config sizes the world.
type Config struct {
	Seed int64
	// Mints is the number of SPL Token mints; a third as many (at least one)
	// Token-2022 mints are added.
	Mints int
	// TokenAccounts are spread over all mints.
	TokenAccounts int
	Wallets       int
	// WriteVersionBase offsets every write_version.
	WriteVersionBase uint64
}

// Defaults fills zero counts.
func (c Config) withDefaults() Config {
	if c.Mints <= 0 {
		c.Mints = 6
	}
	if c.TokenAccounts <= 0 {
		c.TokenAccounts = 200
	}
	if c.Wallets <= 0 {
		c.Wallets = 60
	}
	return c
}

// Kind classifies an account.
type Kind uint8

// Account kinds.
const (
	KindWallet Kind = iota
	KindNonce
	KindMint
	KindMint2022
	KindToken
	KindToken2022
	KindVault
	KindPosition
)

// Account is one account's current state. Data is owned by the World and
// changes in place.
type Account struct {
	Pubkey   [32]byte
	Owner    [32]byte
	Lamports uint64
	Data     []byte
	Kind     Kind
	mint     int    // index into mints for token accounts and vaults
	saved    []byte // a closed token account's data buffer, for reopening
}

// Closed reports whether a token account is closed: no lamports, no data,
// owned by the system program, as Solana leaves a closed account.
func (a *Account) Closed() bool { return a.saved != nil }

// Update is one account write. It and its slices are only valid during the
// emit callback that received it.
type Update struct {
	Account      *Account
	WriteVersion uint64
	// Signature is the 64-byte transaction signature, nil for writes outside
	// a transaction (genesis).
	Signature []byte
}

// World holds every account. Accounts never disappear.
type World struct {
	cfg      Config
	rng      *rand.Rand
	pcg      *rand.PCG
	wv       uint64
	sig      [64]byte
	upd      Update // reused for every emit
	accounts []*Account

	wallets, nonces, mints, vaults, positions []*Account
	tokensByMint                              [][]*Account
	tokens                                    []*Account
}

// New builds the initial world from cfg.
func New(cfg Config) *World {
	cfg = cfg.withDefaults()
	w := &World{cfg: cfg, pcg: rand.NewPCG(0, 0)}
	w.rng = rand.New(w.pcg)
	w.pcg.Seed(uint64(cfg.Seed), 0x9e3779b97f4a7c15)
	r := w.rng

	for i := range cfg.Wallets {
		a := w.add(&Account{Pubkey: w.key("wallet", i), Owner: solana.SystemProgramID, Kind: KindWallet,
			Lamports: 1_000_000_000 + r.Uint64N(100_000_000_000)})
		w.wallets = append(w.wallets, a)
	}
	for i := range 2 {
		a := w.add(&Account{Pubkey: w.key("nonce", i), Owner: solana.SystemProgramID, Kind: KindNonce,
			Lamports: rentExempt(NonceLen), Data: make([]byte, NonceLen)})
		binary.LittleEndian.PutUint32(a.Data[0:], 1) // versions: current
		binary.LittleEndian.PutUint32(a.Data[4:], 1) // state: initialized
		auth := w.wallets[i%len(w.wallets)].Pubkey
		copy(a.Data[8:], auth[:])
		h := w.key("nonce-hash", i)
		copy(a.Data[40:], h[:])
		binary.LittleEndian.PutUint64(a.Data[72:], txFee)
		w.nonces = append(w.nonces, a)
	}
	n2022 := max(1, cfg.Mints/3)
	for i := range cfg.Mints + n2022 {
		t22 := i >= cfg.Mints
		auth := w.wallets[r.IntN(len(w.wallets))].Pubkey
		decimals := []byte{0, 2, 6, 9}[r.IntN(4)]
		a := &Account{Pubkey: w.key("mint", i), Owner: solana.TokenProgramID, Kind: KindMint}
		base := mintBase(auth, decimals)
		if t22 {
			a.Owner, a.Kind = solana.Token2022ProgramID, KindMint2022
			a.Data = mint2022(base, auth, w.key("metadata", i), uint16(r.IntN(500)))
		} else {
			a.Data = base
		}
		a.Lamports = rentExempt(len(a.Data))
		w.add(a)
		w.mints = append(w.mints, a)
	}
	w.tokensByMint = make([][]*Account, len(w.mints))
	for i := range cfg.TokenAccounts {
		m := i % len(w.mints)
		mint := w.mints[m]
		owner := w.wallets[r.IntN(len(w.wallets))].Pubkey
		amount := r.Uint64N(1_000_000_000)
		a := &Account{Pubkey: w.key("token", i), Owner: mint.Owner, Kind: KindToken, mint: m}
		base := tokenBase(mint.Pubkey, owner, amount)
		if i%17 == 5 { // a few accounts with a delegate
			base[72] = 1
			d := w.wallets[r.IntN(len(w.wallets))].Pubkey
			copy(base[76:108], d[:])
			binary.LittleEndian.PutUint64(base[121:], amount/2)
		}
		if mint.Kind == KindMint2022 {
			a.Kind = KindToken2022
			a.Data = token2022(base)
		} else {
			a.Data = base
		}
		a.Lamports = rentExempt(len(a.Data))
		w.add(a)
		w.tokensByMint[m] = append(w.tokensByMint[m], a)
		w.tokens = append(w.tokens, a)
		supply := binary.LittleEndian.Uint64(mint.Data[MintSupplyOffset:])
		binary.LittleEndian.PutUint64(mint.Data[MintSupplyOffset:], supply+amount)
	}
	nVaults := max(2, len(w.mints)/2)
	for i := range nVaults {
		m := i % len(w.mints)
		a := &Account{Pubkey: w.key("vault", i), Owner: DemoProgramID, Kind: KindVault, mint: m, Data: make([]byte, VaultLen)}
		d := a.Data
		copy(d[0:8], VaultDiscriminator[:])
		auth := w.wallets[r.IntN(len(w.wallets))].Pubkey
		copy(d[8:40], auth[:])
		copy(d[40:72], w.mints[m].Pubkey[:])
		d[80] = byte(255 - r.IntN(8))                                            // bump
		binary.LittleEndian.PutUint64(d[81:], uint64(1_700_000_000+r.IntN(1e7))) // created_at
		a.Lamports = rentExempt(VaultLen)
		w.add(a)
		w.vaults = append(w.vaults, a)
	}
	labels := []string{"alpha", "btc-perp", "sol long", "hedge", "", "market making #7"}
	for i := range max(4, cfg.TokenAccounts/10) {
		v := w.vaults[i%len(w.vaults)]
		label := labels[i%len(labels)]
		d := make([]byte, 8+32+32+8+1+8+4+len(label))
		copy(d[0:8], PositionDiscriminator[:])
		owner := w.wallets[r.IntN(len(w.wallets))].Pubkey
		copy(d[8:40], owner[:])
		copy(d[40:72], v.Pubkey[:])
		amt := r.Uint64N(1_000_000)
		binary.LittleEndian.PutUint64(d[72:], amt)
		d[80] = byte(r.IntN(2))
		binary.LittleEndian.PutUint64(d[81:], 0) // opened_slot: set on first trade
		binary.LittleEndian.PutUint32(d[89:], uint32(len(label)))
		copy(d[93:], label)
		a := &Account{Pubkey: w.key("position", i), Owner: DemoProgramID, Kind: KindPosition, Data: d, Lamports: rentExempt(len(d))}
		w.add(a)
		w.positions = append(w.positions, a)
		vb := binary.LittleEndian.Uint64(v.Data[72:])
		binary.LittleEndian.PutUint64(v.Data[72:], vb+amt)
	}
	return w
}

// Accounts lists every account (shared; do not modify).
func (w *World) Accounts() []*Account { return w.accounts }

// WriteVersion is the last write_version handed out.
func (w *World) WriteVersion() uint64 { return w.cfg.WriteVersionBase + w.wv }

// Genesis emits every account once, without a signature.
func (w *World) Genesis(emit func(*Update)) {
	for _, a := range w.accounts {
		w.wv++
		w.upd = Update{Account: a, WriteVersion: w.cfg.WriteVersionBase + w.wv}
		emit(&w.upd)
	}
}

// Snapshot emits every account's current state, write_version unchanged
// (the last one handed out), without a signature.
func (w *World) Snapshot(emit func(*Update)) {
	for _, a := range w.accounts {
		w.upd = Update{Account: a, WriteVersion: w.cfg.WriteVersionBase + w.wv}
		emit(&w.upd)
	}
}

// BeginSlot reseeds the generator for slot, so a slot's transactions depend
// only on the seed, the slot and the state before it.
func (w *World) BeginSlot(slot uint64) {
	w.pcg.Seed(uint64(w.cfg.Seed)^0x5851f42d4c957f2d, slot)
}

// Tx runs one transaction at slot, emitting the 2-3 accounts it writes,
// and returns how many it emitted.
func (w *World) Tx(slot uint64, emit func(*Update)) int {
	r := w.rng
	for i := 0; i < 64; i += 8 {
		binary.LittleEndian.PutUint64(w.sig[i:], r.Uint64())
	}
	payer := w.payer()
	switch p := r.IntN(200); {
	case p < 110:
		return w.tokenTransfer(payer, emit)
	case p < 150:
		return w.solTransfer(payer, emit)
	case p < 186:
		return w.trade(slot, emit)
	case p < 192:
		return w.mintTo(payer, emit)
	case p < 195:
		return w.closeAccount(payer, emit)
	case p < 198:
		return w.reopenAccount(payer, emit)
	default:
		return w.advanceNonce(slot, payer, emit)
	}
}

// payer picks a wallet that can pay the fee, topping one up when a few
// picks find none, so every write of a payer changes it.
func (w *World) payer() *Account {
	const minBalance = 1_000_000
	var p *Account
	for range 4 {
		p = w.wallets[w.rng.IntN(len(w.wallets))]
		if p.Lamports >= minBalance {
			return p
		}
	}
	p.Lamports += 1_000_000_000 // an airdrop
	return p
}

// openTokenWithBalance picks an open token account of mint m holding tokens, or nil.
func (w *World) openTokenWithBalance(m int) *Account {
	for range 8 {
		a := w.openToken(m, nil)
		if a != nil && binary.LittleEndian.Uint64(a.Data[TokenAmountOffset:]) > 0 {
			return a
		}
	}
	return nil
}

// openToken picks an open token account of mint m other than not, or nil.
func (w *World) openToken(m int, not *Account) *Account {
	accts := w.tokensByMint[m]
	for range 8 {
		a := accts[w.rng.IntN(len(accts))]
		if a != not && !a.Closed() {
			return a
		}
	}
	return nil
}

// closeAccount empties a token account into another of its mint and closes
// it, refunding its rent to the payer: the closed account's update has no
// data and the system program as owner.
func (w *World) closeAccount(payer *Account, emit func(*Update)) int {
	m := w.rng.IntN(len(w.mints))
	src := w.openToken(m, nil)
	if src == nil {
		return w.solTransfer(payer, emit)
	}
	dst := w.openToken(m, src)
	if dst == nil {
		return w.solTransfer(payer, emit)
	}
	amt := binary.LittleEndian.Uint64(src.Data[TokenAmountOffset:])
	binary.LittleEndian.PutUint64(dst.Data[TokenAmountOffset:], binary.LittleEndian.Uint64(dst.Data[TokenAmountOffset:])+amt)
	binary.LittleEndian.PutUint64(src.Data[TokenAmountOffset:], 0)
	src.saved, src.Data = src.Data, nil
	payer.Lamports += src.Lamports
	src.Lamports, src.Owner = 0, solana.SystemProgramID
	w.payFee(payer)
	if amt == 0 { // dst is untouched: no write for it
		return w.emit(emit, payer, src)
	}
	return w.emit(emit, payer, dst, src)
}

// reopenAccount re-creates a closed token account at its address, empty and
// without delegate, paid for by the payer.
func (w *World) reopenAccount(payer *Account, emit func(*Update)) int {
	var a *Account
	for range 8 {
		c := w.tokens[w.rng.IntN(len(w.tokens))]
		if c.Closed() {
			a = c
			break
		}
	}
	rent := uint64(0)
	if a != nil {
		rent = rentExempt(len(a.saved))
	}
	if a == nil || payer.Lamports < rent+txFee {
		return w.solTransfer(payer, emit)
	}
	a.Data, a.saved = a.saved, nil
	clear(a.Data[72:108])  // delegate: None
	clear(a.Data[121:129]) // delegated_amount
	a.Owner, a.Lamports = w.mints[a.mint].Owner, rent
	payer.Lamports -= rent
	w.payFee(payer)
	return w.emit(emit, payer, a)
}

func (w *World) emit(emit func(*Update), accts ...*Account) int {
	for _, a := range accts {
		w.wv++
		w.upd = Update{Account: a, WriteVersion: w.cfg.WriteVersionBase + w.wv, Signature: w.sig[:]}
		emit(&w.upd)
	}
	return len(accts)
}

func (w *World) payFee(payer *Account) { payer.Lamports -= txFee }

func (w *World) tokenTransfer(payer *Account, emit func(*Update)) int {
	r := w.rng
	m := r.IntN(len(w.mints))
	src := w.openTokenWithBalance(m)
	if src == nil {
		return w.solTransfer(payer, emit)
	}
	dst := w.openToken(m, src)
	if dst == nil {
		return w.solTransfer(payer, emit)
	}
	have := binary.LittleEndian.Uint64(src.Data[TokenAmountOffset:])
	amt := 1 + r.Uint64N(max(1, have/3))
	binary.LittleEndian.PutUint64(src.Data[TokenAmountOffset:], have-amt)
	dv := binary.LittleEndian.Uint64(dst.Data[TokenAmountOffset:])
	binary.LittleEndian.PutUint64(dst.Data[TokenAmountOffset:], dv+amt)
	w.payFee(payer)
	return w.emit(emit, payer, src, dst)
}

func (w *World) solTransfer(payer *Account, emit func(*Update)) int {
	r := w.rng
	dst := w.wallets[r.IntN(len(w.wallets))]
	for dst == payer {
		dst = w.wallets[r.IntN(len(w.wallets))]
	}
	amt := 1 + r.Uint64N(max(1, payer.Lamports/10))
	payer.Lamports -= amt
	dst.Lamports += amt
	w.payFee(payer)
	return w.emit(emit, payer, dst)
}

// trade changes a position's amount and its vault's balance by the same delta.
func (w *World) trade(slot uint64, emit func(*Update)) int {
	r := w.rng
	pos := w.positions[r.IntN(len(w.positions))]
	var vault *Account
	for _, v := range w.vaults {
		if [32]byte(pos.Data[40:72]) == v.Pubkey {
			vault = v
			break
		}
	}
	amt := binary.LittleEndian.Uint64(pos.Data[72:])
	bal := binary.LittleEndian.Uint64(vault.Data[72:])
	delta := 1 + r.Uint64N(10_000)
	if r.IntN(2) == 0 && amt >= delta {
		amt, bal = amt-delta, bal-delta
	} else {
		amt, bal = amt+delta, bal+delta
	}
	binary.LittleEndian.PutUint64(pos.Data[72:], amt)
	binary.LittleEndian.PutUint64(vault.Data[72:], bal)
	if r.IntN(10) == 0 {
		pos.Data[80] ^= 1
	}
	if binary.LittleEndian.Uint64(pos.Data[81:]) == 0 {
		binary.LittleEndian.PutUint64(pos.Data[81:], slot)
	}
	return w.emit(emit, pos, vault)
}

// mintTo raises a mint's supply and one of its accounts' amount together.
func (w *World) mintTo(payer *Account, emit func(*Update)) int {
	r := w.rng
	m := r.IntN(len(w.mints))
	dst := w.openToken(m, nil)
	if dst == nil {
		return w.solTransfer(payer, emit)
	}
	mint := w.mints[m]
	amt := 1 + r.Uint64N(1_000_000)
	binary.LittleEndian.PutUint64(mint.Data[MintSupplyOffset:], binary.LittleEndian.Uint64(mint.Data[MintSupplyOffset:])+amt)
	binary.LittleEndian.PutUint64(dst.Data[TokenAmountOffset:], binary.LittleEndian.Uint64(dst.Data[TokenAmountOffset:])+amt)
	w.payFee(payer)
	return w.emit(emit, payer, mint, dst)
}

func (w *World) advanceNonce(slot uint64, payer *Account, emit func(*Update)) int {
	n := w.nonces[w.rng.IntN(len(w.nonces))]
	h := sha256.Sum256(binary.LittleEndian.AppendUint64(append([]byte(nil), n.Data[40:72]...), slot))
	copy(n.Data[40:72], h[:])
	w.payFee(payer)
	return w.emit(emit, payer, n)
}

// Mint returns the mint account of a token account or vault.
func (w *World) Mint(a *Account) *Account { return w.mints[a.mint] }

// Mints lists the mint accounts (shared).
func (w *World) Mints() []*Account { return w.mints }

// TokenAccounts lists SPL Token and Token-2022 token accounts (shared).
func (w *World) TokenAccounts() []*Account { return w.tokens }

func (w *World) add(a *Account) *Account {
	w.accounts = append(w.accounts, a)
	return a
}

func (w *World) key(kind string, i int) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "firehole-sim/%d/%s/%d", w.cfg.Seed, kind, i))
}

func rentExempt(dataLen int) uint64 { return uint64(128+dataLen) * 3480 * 2 }

func mintBase(authority [32]byte, decimals byte) []byte {
	d := make([]byte, MintLen)
	d[0] = 1 // mint_authority: Some
	copy(d[4:36], authority[:])
	d[44] = decimals
	d[45] = 1 // is_initialized
	return d
}

func tokenBase(mint, owner [32]byte, amount uint64) []byte {
	d := make([]byte, TokenAccountLen)
	copy(d[0:32], mint[:])
	copy(d[32:64], owner[:])
	binary.LittleEndian.PutUint64(d[64:], amount)
	d[108] = 1 // state: initialized
	return d
}

// mint2022 pads the base mint to the account length, sets the account type
// and appends transferFeeConfig, mintCloseAuthority and metadataPointer.
func mint2022(base []byte, authority, metadata [32]byte, feeBps uint16) []byte {
	d := make([]byte, TokenAccountLen, 512)
	copy(d, base)
	d = append(d, accountTypeMint)
	// TransferFeeConfig: config authority, withdraw authority, withheld amount,
	// older fee {epoch, maximum_fee, basis_points}, newer fee.
	v := make([]byte, 0, 108)
	v = append(v, authority[:]...)
	v = append(v, authority[:]...)
	v = binary.LittleEndian.AppendUint64(v, 0)
	for range 2 {
		v = binary.LittleEndian.AppendUint64(v, 500)
		v = binary.LittleEndian.AppendUint64(v, 1_000_000)
		v = binary.LittleEndian.AppendUint16(v, feeBps)
	}
	d = appendTLV(d, ExtTransferFeeConfig, v)
	d = appendTLV(d, ExtMintCloseAuthority, authority[:])
	d = appendTLV(d, ExtMetadataPointer, append(append([]byte(nil), authority[:]...), metadata[:]...))
	return d
}

// token2022 pads nothing (the base is exactly 165 bytes), sets the account
// type and appends transferFeeAmount and immutableOwner.
func token2022(base []byte) []byte {
	d := append(make([]byte, 0, 200), base...)
	d = append(d, accountTypeAccount)
	d = appendTLV(d, ExtTransferFeeAmount, make([]byte, 8))
	d = appendTLV(d, ExtImmutableOwner, nil)
	return d
}

func appendTLV(d []byte, typ uint16, v []byte) []byte {
	d = binary.LittleEndian.AppendUint16(d, typ)
	d = binary.LittleEndian.AppendUint16(d, uint16(len(v)))
	return append(d, v...)
}

func discriminator(name string) [8]byte {
	h := sha256.Sum256([]byte("account:" + name))
	return [8]byte(h[:8])
}

func mustKey(s string) [32]byte {
	k, err := base58.Decode32(s)
	if err != nil {
		panic("world: bad built-in address " + s)
	}
	return k
}
