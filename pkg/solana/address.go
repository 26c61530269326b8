package solana

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Limits on program-derived address seeds (Solana's MAX_SEEDS and MAX_SEED_LEN).
const (
	MaxSeeds   = 16
	MaxSeedLen = 32
)

// ErrNoViableBump is returned when no bump makes an off-curve address (it
// practically never happens).
var ErrNoViableBump = errors.New("no bump seed gives an address off the curve")

// OnCurve reports whether k is the encoding of a point on the ed25519 curve,
// i.e. whether it could be a public key with a private key.
func OnCurve(k [32]byte) bool {
	_, err := new(edwards25519.Point).SetBytes(k[:])
	return err == nil
}

// CreateProgramAddress derives the address for seeds under program, or an
// error when the result is on the curve (then it is not a valid PDA).
func CreateProgramAddress(seeds [][]byte, program [32]byte) ([32]byte, error) {
	if len(seeds) > MaxSeeds {
		return [32]byte{}, fmt.Errorf("create program address: %d seeds, at most %d", len(seeds), MaxSeeds)
	}
	h := sha256.New()
	for _, s := range seeds {
		if len(s) > MaxSeedLen {
			return [32]byte{}, fmt.Errorf("create program address: seed of %d bytes, at most %d", len(s), MaxSeedLen)
		}
		h.Write(s)
	}
	h.Write(program[:])
	h.Write([]byte("ProgramDerivedAddress"))
	var k [32]byte
	h.Sum(k[:0])
	if OnCurve(k) {
		return [32]byte{}, errors.New("create program address: the address is on the curve")
	}
	return k, nil
}

// FindProgramAddress returns the program-derived address for seeds and the
// bump (255 down to 0) that first puts it off the curve.
func FindProgramAddress(seeds [][]byte, program [32]byte) ([32]byte, uint8, error) {
	with := append(append([][]byte(nil), seeds...), nil)
	for bump := 255; bump >= 0; bump-- {
		with[len(seeds)] = []byte{byte(bump)}
		if k, err := CreateProgramAddress(with, program); err == nil {
			return k, uint8(bump), nil
		}
	}
	return [32]byte{}, 0, ErrNoViableBump
}

// CreateWithSeed is the address of SystemProgram's create-with-seed:
// sha256(base || seed || owner).
func CreateWithSeed(base [32]byte, seed string, owner [32]byte) ([32]byte, error) {
	if len(seed) > MaxSeedLen {
		return [32]byte{}, fmt.Errorf("create with seed: seed of %d bytes, at most %d", len(seed), MaxSeedLen)
	}
	h := sha256.New()
	h.Write(base[:])
	h.Write([]byte(seed))
	h.Write(owner[:])
	var k [32]byte
	h.Sum(k[:0])
	return k, nil
}
