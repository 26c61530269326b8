// Package metaplex decodes accounts of the Metaplex Token Metadata program
// (metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s): Metadata, MasterEdition
// (v1 and v2) and Edition. These are plain Borsh with a one-byte Key enum
// first, not Anchor accounts.
//
// Output follows the anchor package's JSON conventions: snake_case field
// names as in the Rust structs, u64 as decimal strings, smaller integers as
// numbers, pubkeys base58, Option as null or the value, unit enums as the
// variant name and data-carrying enums as {"Variant":{...}}.
//
// Metaplex writes name, symbol and uri padded with NUL bytes to 32, 10 and
// 200 bytes; the decoder trims trailing NULs the way Metaplex's own clients
// do. Metadata accounts created by older program versions end after
// is_mutable or after any later optional field, and every account is
// zero-padded to a fixed size, so the optional tail (edition_nonce onwards)
// is read leniently like the program itself reads it: a field that is
// missing or undecodable is null, and so is everything after it.
package metaplex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/firehole/firehole/services/parser/internal/jsonw"
	"strconv"

	"github.com/firehole/firehole/pkg/base58"
)

// ProgramID is the Token Metadata program address.
var ProgramID = mustDecode32("metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s")

func mustDecode32(s string) [32]byte {
	k, err := base58.Decode32(s)
	if err != nil {
		panic(fmt.Sprintf("metaplex: bad built-in address %q: %v", s, err))
	}
	return k
}

var (
	// ErrUnsupportedAccount is returned for Key values this package does not
	// decode (records, markers, delegates, uninitialized accounts).
	ErrUnsupportedAccount = errors.New("metaplex: unsupported account key")
	// ErrShortData is returned when a required field runs past the data.
	ErrShortData = errors.New("metaplex: short data")
	// ErrInvalidData is returned for a required field no value encodes.
	ErrInvalidData = errors.New("metaplex: invalid data")
)

// Key values of the program's account discriminator byte.
const (
	keyEditionV1       = 1
	keyMasterEditionV1 = 2
	keyMetadataV1      = 4
	keyMasterEditionV2 = 6
)

var keyNames = [...]string{
	"Uninitialized", "EditionV1", "MasterEditionV1", "ReservationListV1", "MetadataV1",
	"ReservationListV2", "MasterEditionV2", "EditionMarker", "UseAuthorityRecord",
	"CollectionAuthorityRecord", "TokenOwnedEscrow", "TokenRecord", "MetadataDelegate",
	"EditionMarkerV2", "HolderDelegate",
}

var (
	tokenStandards = [...]string{"NonFungible", "FungibleAsset", "Fungible", "NonFungibleEdition",
		"ProgrammableNonFungible", "ProgrammableNonFungibleEdition"}
	useMethods = [...]string{"Burn", "Multiple", "Single"}
)

// AppendDecode decodes a Token Metadata account and appends one JSON object
// to dst. accountType is "Metadata", "MasterEdition" or "Edition". On error
// dst is returned unchanged.
func AppendDecode(dst, data []byte) (out []byte, accountType string, err error) {
	if len(data) == 0 {
		return dst, "", fmt.Errorf("%w: empty account", ErrShortData)
	}
	r := reader{data: data}
	switch data[0] {
	case keyMetadataV1:
		out, err = r.metadata(dst)
		accountType = "Metadata"
	case keyMasterEditionV1, keyMasterEditionV2:
		out, err = r.masterEdition(dst)
		accountType = "MasterEdition"
	case keyEditionV1:
		out, err = r.edition(dst)
		accountType = "Edition"
	default:
		name := "unknown"
		if int(data[0]) < len(keyNames) {
			name = keyNames[data[0]]
		}
		return dst, "", fmt.Errorf("%w %d (%s)", ErrUnsupportedAccount, data[0], name)
	}
	if err != nil {
		return dst, accountType, fmt.Errorf("decode %s: %w", accountType, err)
	}
	return out, accountType, nil
}

// reader walks the account bytes. Its errors carry the offset.
type reader struct {
	data []byte
	off  int
}

func (r *reader) take(n int, what string) ([]byte, error) {
	if n > len(r.data)-r.off {
		return nil, fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrShortData, what, n, r.off, len(r.data)-r.off)
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b, nil
}

func (r *reader) u8(what string) (byte, error) {
	b, err := r.take(1, what)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (r *reader) u64(what string) (uint64, error) {
	b, err := r.take(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *reader) bool(what string) (bool, error) {
	off := r.off
	b, err := r.u8(what)
	if err != nil {
		return false, err
	}
	if b > 1 {
		return false, fmt.Errorf("%w: %s is %d at offset %d, not a bool", ErrInvalidData, what, b, off)
	}
	return b == 1, nil
}

// optionTag reads a Borsh Option tag.
func (r *reader) optionTag(what string) (bool, error) {
	off := r.off
	b, err := r.u8(what)
	if err != nil {
		return false, err
	}
	if b > 1 {
		return false, fmt.Errorf("%w: %s option tag %d at offset %d", ErrInvalidData, what, b, off)
	}
	return b == 1, nil
}

func (r *reader) pubkey(dst []byte, what string) ([]byte, error) {
	b, err := r.take(32, what)
	if err != nil {
		return dst, err
	}
	dst = append(dst, '"')
	dst = base58.AppendEncode32(dst, (*[32]byte)(b))
	return append(dst, '"'), nil
}

// trimmedString reads a Borsh string and appends it without trailing NULs.
func (r *reader) trimmedString(dst []byte, what string) ([]byte, error) {
	lb, err := r.take(4, what)
	if err != nil {
		return dst, err
	}
	n := binary.LittleEndian.Uint32(lb)
	if int64(n) > int64(len(r.data)-r.off) {
		return dst, fmt.Errorf("%w: %s length %d at offset %d, %d bytes left", ErrShortData, what, n, r.off-4, len(r.data)-r.off)
	}
	s := r.data[r.off : r.off+int(n)]
	r.off += int(n)
	for len(s) > 0 && s[len(s)-1] == 0 {
		s = s[:len(s)-1]
	}
	return jsonw.AppendString(dst, s), nil
}

func (r *reader) metadata(dst []byte) ([]byte, error) {
	r.off = 1
	var err error
	dst = append(dst, `{"key":"MetadataV1","update_authority":`...)
	if dst, err = r.pubkey(dst, "update_authority"); err != nil {
		return dst, err
	}
	dst = append(dst, `,"mint":`...)
	if dst, err = r.pubkey(dst, "mint"); err != nil {
		return dst, err
	}
	dst = append(dst, `,"data":{"name":`...)
	if dst, err = r.trimmedString(dst, "name"); err != nil {
		return dst, err
	}
	dst = append(dst, `,"symbol":`...)
	if dst, err = r.trimmedString(dst, "symbol"); err != nil {
		return dst, err
	}
	dst = append(dst, `,"uri":`...)
	if dst, err = r.trimmedString(dst, "uri"); err != nil {
		return dst, err
	}
	fee, err := r.take(2, "seller_fee_basis_points")
	if err != nil {
		return dst, err
	}
	dst = append(dst, `,"seller_fee_basis_points":`...)
	dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint16(fee)), 10)
	dst = append(dst, `,"creators":`...)
	if dst, err = r.creators(dst); err != nil {
		return dst, err
	}
	for _, name := range [...]string{"primary_sale_happened", "is_mutable"} {
		v, err := r.bool(name)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"`...)
		dst = append(dst, name...)
		dst = append(dst, `":`...)
		dst = strconv.AppendBool(dst, v)
	}
	return r.metadataTail(dst), nil
}

func (r *reader) creators(dst []byte) ([]byte, error) {
	some, err := r.optionTag("creators")
	if err != nil || !some {
		return append(dst, "null}"...), err
	}
	lb, err := r.take(4, "creators length")
	if err != nil {
		return dst, err
	}
	n := binary.LittleEndian.Uint32(lb)
	const creatorSize = 32 + 1 + 1
	if int64(n)*creatorSize > int64(len(r.data)-r.off) {
		return dst, fmt.Errorf("%w: %d creators at offset %d, %d bytes left", ErrShortData, n, r.off-4, len(r.data)-r.off)
	}
	dst = append(dst, '[')
	for i := range int(n) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"address":`...)
		dst, _ = r.pubkey(dst, "creator address") // length checked above
		verified, err := r.bool("creator verified")
		if err != nil {
			return dst, err
		}
		share, _ := r.u8("creator share")
		dst = append(dst, `,"verified":`...)
		dst = strconv.AppendBool(dst, verified)
		dst = append(dst, `,"share":`...)
		dst = strconv.AppendUint(dst, uint64(share), 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), nil
}

// metadataTailKeys are the pre-encoded keys of the optional fields after
// is_mutable, in layout order; tailField decodes field i.
var metadataTailKeys = [...]string{
	`,"edition_nonce":`,
	`,"token_standard":`,
	`,"collection":`,
	`,"uses":`,
	`,"collection_details":`,
	`,"programmable_config":`,
}

func (r *reader) tailField(i int, dst []byte) ([]byte, error) {
	switch i {
	case 0:
		return r.option(dst, "edition_nonce", func(dst []byte) ([]byte, error) {
			v, err := r.u8("edition_nonce")
			return strconv.AppendUint(dst, uint64(v), 10), err
		})
	case 1:
		return r.option(dst, "token_standard", func(dst []byte) ([]byte, error) {
			return r.unitEnum(dst, "token_standard", tokenStandards[:])
		})
	case 2:
		return r.option(dst, "collection", func(dst []byte) ([]byte, error) {
			verified, err := r.bool("collection verified")
			if err != nil {
				return dst, err
			}
			dst = append(dst, `{"verified":`...)
			dst = strconv.AppendBool(dst, verified)
			dst = append(dst, `,"key":`...)
			if dst, err = r.pubkey(dst, "collection key"); err != nil {
				return dst, err
			}
			return append(dst, '}'), nil
		})
	case 3:
		return r.option(dst, "uses", func(dst []byte) ([]byte, error) {
			var err error
			dst = append(dst, `{"use_method":`...)
			if dst, err = r.unitEnum(dst, "use_method", useMethods[:]); err != nil {
				return dst, err
			}
			remaining, err := r.u64("uses remaining")
			if err != nil {
				return dst, err
			}
			total, err := r.u64("uses total")
			if err != nil {
				return dst, err
			}
			dst = append(dst, `,"remaining":`...)
			dst = jsonw.AppendQuotedUint(dst, remaining)
			dst = append(dst, `,"total":`...)
			dst = jsonw.AppendQuotedUint(dst, total)
			return append(dst, '}'), nil
		})
	case 4:
		return r.option(dst, "collection_details", func(dst []byte) ([]byte, error) {
			off := r.off
			tag, err := r.u8("collection_details variant")
			if err != nil {
				return dst, err
			}
			switch tag {
			case 0:
				size, err := r.u64("collection size")
				if err != nil {
					return dst, err
				}
				dst = append(dst, `{"V1":{"size":`...)
				dst = jsonw.AppendQuotedUint(dst, size)
				return append(dst, "}}"...), nil
			case 1:
				pad, err := r.take(8, "collection_details padding")
				if err != nil {
					return dst, err
				}
				dst = append(dst, `{"V2":{"padding":[`...)
				for i, b := range pad {
					if i > 0 {
						dst = append(dst, ',')
					}
					dst = strconv.AppendUint(dst, uint64(b), 10)
				}
				return append(dst, "]}}"...), nil
			}
			return dst, fmt.Errorf("%w: collection_details variant %d at offset %d", ErrInvalidData, tag, off)
		})
	case 5:
		return r.option(dst, "programmable_config", func(dst []byte) ([]byte, error) {
			off := r.off
			tag, err := r.u8("programmable_config variant")
			if err != nil {
				return dst, err
			}
			if tag != 0 {
				return dst, fmt.Errorf("%w: programmable_config variant %d at offset %d", ErrInvalidData, tag, off)
			}
			dst = append(dst, `{"V1":{"rule_set":`...)
			dst, err = r.option(dst, "rule_set", func(dst []byte) ([]byte, error) {
				return r.pubkey(dst, "rule_set")
			})
			if err != nil {
				return dst, err
			}
			return append(dst, "}}"...), nil
		})
	}
	return dst, fmt.Errorf("internal: no tail field %d", i)
}

// metadataTail appends the optional fields after is_mutable and closes the
// object. The first field that is absent or does not decode ends the
// decoding: it and the rest are null.
func (r *reader) metadataTail(dst []byte) []byte {
	ok := true
	for i, key := range metadataTailKeys {
		dst = append(dst, key...)
		if ok {
			mark := len(dst)
			var err error
			if dst, err = r.tailField(i, dst); err == nil {
				continue
			}
			dst, ok = dst[:mark], false
		}
		dst = append(dst, "null"...)
	}
	return append(dst, '}')
}

// option decodes a Borsh Option, calling some for the value.
func (r *reader) option(dst []byte, what string, some func([]byte) ([]byte, error)) ([]byte, error) {
	present, err := r.optionTag(what)
	if err != nil {
		return dst, err
	}
	if !present {
		return append(dst, "null"...), nil
	}
	return some(dst)
}

func (r *reader) unitEnum(dst []byte, what string, names []string) ([]byte, error) {
	off := r.off
	v, err := r.u8(what)
	if err != nil {
		return dst, err
	}
	if int(v) >= len(names) {
		return dst, fmt.Errorf("%w: %s variant %d at offset %d", ErrInvalidData, what, v, off)
	}
	dst = append(dst, '"')
	dst = append(dst, names[v]...)
	return append(dst, '"'), nil
}

func (r *reader) masterEdition(dst []byte) ([]byte, error) {
	key := r.data[0]
	r.off = 1
	supply, err := r.u64("supply")
	if err != nil {
		return dst, err
	}
	dst = append(dst, `{"key":"`...)
	dst = append(dst, keyNames[key]...)
	dst = append(dst, `","supply":`...)
	dst = jsonw.AppendQuotedUint(dst, supply)
	dst = append(dst, `,"max_supply":`...)
	dst, err = r.option(dst, "max_supply", func(dst []byte) ([]byte, error) {
		v, err := r.u64("max_supply")
		return jsonw.AppendQuotedUint(dst, v), err
	})
	if err != nil {
		return dst, err
	}
	if key == keyMasterEditionV1 {
		dst = append(dst, `,"printing_mint":`...)
		if dst, err = r.pubkey(dst, "printing_mint"); err != nil {
			return dst, err
		}
		dst = append(dst, `,"one_time_printing_authorization_mint":`...)
		if dst, err = r.pubkey(dst, "one_time_printing_authorization_mint"); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func (r *reader) edition(dst []byte) ([]byte, error) {
	r.off = 1
	var err error
	dst = append(dst, `{"key":"EditionV1","parent":`...)
	if dst, err = r.pubkey(dst, "parent"); err != nil {
		return dst, err
	}
	n, err := r.u64("edition")
	if err != nil {
		return dst, err
	}
	dst = append(dst, `,"edition":`...)
	dst = jsonw.AppendQuotedUint(dst, n)
	return append(dst, '}'), nil
}
