package solana

import "encoding/binary"

// ClockUnixTimestamp reads unix_timestamp from the Clock sysvar's data
// (slot, epoch_start_timestamp, epoch, leader_schedule_epoch,
// unix_timestamp; 8 bytes each, little endian). ok is false for data too
// short to hold it.
func ClockUnixTimestamp(data []byte) (ts int64, ok bool) {
	if len(data) < 40 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(data[32:40])), true
}
