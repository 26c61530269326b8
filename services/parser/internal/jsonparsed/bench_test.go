package jsonparsed

import (
	"testing"
)

func benchFixture(b *testing.B, file string) {
	fxs := loadFixtures(b)
	mints := fixtureMints(fxs)
	reg := NewRegistry()
	var fx *fixture
	for _, f := range fxs {
		if f.file == file {
			fx = f
		}
	}
	if fx == nil {
		b.Fatalf("no fixture %s", file)
	}
	in := Input{Owner: fx.owner, Pubkey: fx.key, Data: fx.data}
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(fx.data)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, _, _, err = reg.AppendParsed(buf[:0], in, mints)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenAccount(b *testing.B) { benchFixture(b, "spl-token-account.json") }
func BenchmarkTokenAccountDelegated(b *testing.B) {
	benchFixture(b, "spl-token-account-delegated.json")
}
func BenchmarkMint(b *testing.B) { benchFixture(b, "spl-token-mint.json") }
func BenchmarkToken2022MintTransferFee(b *testing.B) {
	benchFixture(b, "spl-token-2022-mint-transfer-fee.json")
}
func BenchmarkToken2022MintManyExtensions(b *testing.B) {
	benchFixture(b, "spl-token-2022-mint-many-extensions.json")
}
func BenchmarkToken2022MintXStocks(b *testing.B) {
	benchFixture(b, "xstocks-aaplx-token-2022-mint.json")
}
func BenchmarkToken2022AccountManyExtensions(b *testing.B) {
	benchFixture(b, "spl-token-2022-account-many-extensions.json")
}
func BenchmarkStake(b *testing.B)       { benchFixture(b, "stake-delegated.json") }
func BenchmarkVote(b *testing.B)        { benchFixture(b, "vote.json") }
func BenchmarkLookupTable(b *testing.B) { benchFixture(b, "address-lookup-table.json") }
func BenchmarkNonce(b *testing.B)       { benchFixture(b, "nonce-initialized.json") }

func BenchmarkMintFromAccount(b *testing.B) {
	fxs := loadFixtures(b)
	var fx *fixture
	for _, f := range fxs {
		if f.file == "spl-token-2022-mint-many-extensions.json" {
			fx = f
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := MintFromAccount(fx.owner, fx.data); !ok {
			b.Fatal("not a mint")
		}
	}
}
