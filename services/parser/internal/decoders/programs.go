package decoders

import (
	"errors"

	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/services/parser/internal/jsonparsed"
	"github.com/firehole/firehole/services/parser/internal/metaplex"
)

// MetaplexName is the program name of Metaplex Token Metadata accounts.
const MetaplexName = "metaplex-token-metadata"

// JSONParsedPrograms are the owners that Solana RPC renders as jsonParsed.
var JSONParsedPrograms = []struct {
	ID   [32]byte
	Name string
}{
	{solana.TokenProgramID, "spl-token"},
	{solana.Token2022ProgramID, "spl-token-2022"},
	{solana.SystemProgramID, "nonce"},
	{solana.StakeProgramID, "stake"},
	{solana.VoteProgramID, "vote"},
	{solana.AddressLookupTableProgramID, "address-lookup-table"},
	{solana.BPFLoaderUpgradeableID, "bpf-upgradeable-loader"},
	{solana.ConfigProgramID, "config"},
	{solana.SysvarOwnerID, "sysvar"},
}

type jsonParsedDecoder struct {
	r     *jsonparsed.Registry
	mints jsonparsed.MintSource
}

func (d jsonParsedDecoder) AppendDecode(dst []byte, acc Account) ([]byte, string, string, error) {
	out, program, typ, err := d.r.AppendParsed(dst, jsonparsed.Input{
		Owner: acc.Owner, Pubkey: acc.Pubkey, Data: acc.Data, UnixTimestamp: acc.UnixTimestamp,
	}, d.mints)
	if errors.Is(err, jsonparsed.ErrMintUnknown) {
		if mint, ok := jsonparsed.TokenAccountMint(acc.Owner, acc.Data); ok {
			return dst, program, "account", &AwaitingMintError{Mint: mint}
		}
	}
	return out, program, typ, err
}

// AddJSONParsed registers the jsonParsed decoders of every program in
// JSONParsedPrograms that r can parse; token accounts read mints from mints.
func (r *Registry) AddJSONParsed(jr *jsonparsed.Registry, mints jsonparsed.MintSource) error {
	dec := jsonParsedDecoder{r: jr, mints: mints}
	for _, p := range JSONParsedPrograms {
		if !jr.Parsable(p.ID) {
			continue
		}
		if err := r.Add(p.ID, p.Name, true, dec); err != nil {
			return err
		}
	}
	return nil
}

type metaplexDecoder struct{}

func (metaplexDecoder) AppendDecode(dst []byte, acc Account) ([]byte, string, string, error) {
	out, typ, err := metaplex.AppendDecode(dst, acc.Data)
	return out, MetaplexName, typ, err
}

// AddMetaplex registers the Metaplex Token Metadata decoder.
func (r *Registry) AddMetaplex() error {
	return r.Add(metaplex.ProgramID, MetaplexName, false, metaplexDecoder{})
}
