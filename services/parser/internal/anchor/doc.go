// Package anchor decodes Anchor program accounts at run time from the
// program's IDL.
//
// ParseIDL accepts both IDL generations: the legacy format (top-level
// "name"/"version", inline account layouts, "publicKey", {"defined":"X"},
// discriminators derived as sha256("account:<Name>")[:8]) and the Anchor 0.30+
// format ("address", "metadata", explicit account discriminators, layouts in
// "types", {"defined":{"name":..,"generics":..}}, "pubkey", bytemuck
// serialization with repr C / packed).
//
// At load time every account layout reachable from the IDL's accounts is
// compiled into a tree of plan nodes; decoding walks that tree over the
// account bytes and appends JSON directly to a caller-owned buffer, without
// reflection and without allocating beyond the buffer's growth.
//
// JSON conventions of the output:
//   - object keys are the IDL field names, unchanged;
//   - u8..u32 and i8..i32 are JSON numbers; u64, i64, u128, i128, u256 and
//     i256 are JSON strings holding the decimal value, so JavaScript clients
//     do not lose precision;
//   - f32/f64 are JSON numbers; NaN and infinities, which JSON cannot carry,
//     are written as the strings "NaN", "+Inf" and "-Inf";
//   - pubkeys are base58 strings;
//   - bytes, [u8; N] and every other array or vec are JSON arrays of numbers
//     (not base64), so a byte array reads the same as any other array;
//   - strings are JSON-escaped, invalid UTF-8 replaced by U+FFFD;
//   - Option and COption are null or the value;
//   - enums: a unit variant is "Name", a struct variant {"Name":{...}}, a
//     tuple variant {"Name":[...]}; tuple structs are arrays.
//
// Layouts: Borsh types are read sequentially, little-endian. Types declared
// with bytemuck serialization and repr C (not packed) get C field alignment
// and trailing padding (u128/i128 align to 16, as on SBF); packed types and
// Borsh types get none. Bytes after the described layout are ignored and
// reported through AppendDecodeConsumed.
//
// Untrusted account bytes never panic the decoder, and lengths read from the
// data are checked against the remaining bytes before anything is produced,
// so the output is bounded by a small multiple of the input size.
package anchor
