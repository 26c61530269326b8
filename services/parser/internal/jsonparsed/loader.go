package jsonparsed

// parseUpgradeableLoader renders a BPF upgradeable loader account (bincode
// UpgradeableLoaderState). Buffer and ProgramData carry the bytes after
// their metadata as ["<base64>","base64"].
func parseUpgradeableLoader(dst []byte, in Input, _ MintSource) ([]byte, string, error) {
	r := reader{b: in.Data}
	tag := r.u32()
	if r.bad {
		return dst, "", errLayout
	}
	switch tag {
	case 0:
		return append(dst, `{"type":"uninitialized"}`...), "uninitialized", nil
	case 1: // Buffer { authority_address: Option<Pubkey> }
		var auth *[32]byte
		if r.option() {
			auth = r.key()
		}
		if r.bad {
			return dst, "", errLayout
		}
		dst = append(dst, `{"info":{"authority":`...)
		dst = appendNilablePubkey(dst, auth)
		dst = append(dst, `,"data":`...)
		dst = appendBinary(dst, in.Data[r.off:])
		return append(dst, `},"type":"buffer"}`...), "buffer", nil
	case 2: // Program { programdata_address }
		pd := r.key()
		if r.bad {
			return dst, "", errLayout
		}
		dst = append(dst, `{"info":{"programData":`...)
		dst = appendPubkey(dst, pd)
		return append(dst, `},"type":"program"}`...), "program", nil
	case 3: // ProgramData { slot, upgrade_authority_address }
		slot := r.u64()
		var auth *[32]byte
		if r.option() {
			auth = r.key()
		}
		if r.bad {
			return dst, "", errLayout
		}
		dst = append(dst, `{"info":{"authority":`...)
		dst = appendNilablePubkey(dst, auth)
		dst = append(dst, `,"data":`...)
		dst = appendBinary(dst, in.Data[r.off:])
		dst = append(dst, `,"slot":`...)
		dst = appendU64(dst, slot)
		return append(dst, `},"type":"programData"}`...), "programData", nil
	}
	return dst, "", errLayout
}

// appendBinary writes agave's UiAccountData::Binary as ["<b64>","base64"].
func appendBinary(dst, b []byte) []byte {
	dst = append(dst, '[')
	dst = appendBase64String(dst, b)
	return append(dst, `,"base64"]`...)
}
