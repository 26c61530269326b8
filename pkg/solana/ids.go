// Package solana holds well-known Solana program and sysvar addresses as
// 32-byte arrays, so services can compare owners without decoding base58 on
// every account update. The values are immutable by convention: never write
// to them.
package solana

import "github.com/firehole/firehole/pkg/base58"

// Program ids.
var (
	SystemProgramID             = mustKey("11111111111111111111111111111111")
	TokenProgramID              = mustKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
	Token2022ProgramID          = mustKey("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
	AssociatedTokenProgramID    = mustKey("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
	StakeProgramID              = mustKey("Stake11111111111111111111111111111111111111")
	VoteProgramID               = mustKey("Vote111111111111111111111111111111111111111")
	AddressLookupTableProgramID = mustKey("AddressLookupTab1e1111111111111111111111111")
	BPFLoaderUpgradeableID      = mustKey("BPFLoaderUpgradeab1e11111111111111111111111")
	ConfigProgramID             = mustKey("Config1111111111111111111111111111111111111")
	SysvarOwnerID               = mustKey("Sysvar1111111111111111111111111111111111111")
	StakeConfigID               = mustKey("StakeConfig11111111111111111111111111111111")
	ValidatorInfoID             = mustKey("Va1idator1nfo111111111111111111111111111111")
	ComputeBudgetProgramID      = mustKey("ComputeBudget111111111111111111111111111111")
	MemoProgramID               = mustKey("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
	BPFLoaderID                 = mustKey("BPFLoader2111111111111111111111111111111111")
	BPFLoaderDeprecatedID       = mustKey("BPFLoader1111111111111111111111111111111111")
	NativeLoaderID              = mustKey("NativeLoader1111111111111111111111111111111")
	WrappedSOLMintID            = mustKey("So11111111111111111111111111111111111111112")
	Token2022WrappedSOLMintID   = mustKey("9pan9bMn5HatX4EJdBwg9VgCa7Uz5HL8N1m5D3NdXejP")
)

// Sysvar account addresses.
var (
	SysvarClockID             = mustKey("SysvarC1ock11111111111111111111111111111111")
	SysvarEpochScheduleID     = mustKey("SysvarEpochSchedu1e111111111111111111111111")
	SysvarFeesID              = mustKey("SysvarFees111111111111111111111111111111111")
	SysvarRecentBlockhashesID = mustKey("SysvarRecentB1ockHashes11111111111111111111")
	SysvarRentID              = mustKey("SysvarRent111111111111111111111111111111111")
	SysvarRewardsID           = mustKey("SysvarRewards111111111111111111111111111111")
	SysvarSlotHashesID        = mustKey("SysvarS1otHashes111111111111111111111111111")
	SysvarSlotHistoryID       = mustKey("SysvarS1otHistory11111111111111111111111111")
	SysvarStakeHistoryID      = mustKey("SysvarStakeHistory1111111111111111111111111")
	SysvarInstructionsID      = mustKey("Sysvar1nstructions1111111111111111111111111")
	SysvarEpochRewardsID      = mustKey("SysvarEpochRewards1111111111111111111111111")
	SysvarLastRestartSlotID   = mustKey("SysvarLastRestartS1ot1111111111111111111111")
)

// mustKey decodes a compile-time constant address; a typo is a programming
// error caught by the first test that loads the package.
func mustKey(s string) [32]byte {
	k, err := base58.Decode32(s)
	if err != nil {
		panic("solana: bad built-in address " + s + ": " + err.Error())
	}
	return k
}
