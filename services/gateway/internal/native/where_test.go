package native

import (
	"encoding/json"
	"testing"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func TestWhereMatch(t *testing.T) {
	t.Parallel()
	owner, pk := key("owner"), key("pk")
	a := acct(owner, pk, 77, []byte{1, 2, 3}, `{"type":"account","info":{"mint":"M1","state":"initialized","isNative":false,
		"tokenAmount":{"amount":"1500","decimals":6,"uiAmount":0.0015},"big":"340282366920938463463374607431768211455",
		"list":[{"x":1},{"x":2}],"nothing":null}}`)
	a.Account.Lamports = 2039280
	tests := []struct {
		name  string
		where string
		want  bool
	}{
		{"eq string", `[{"path":"parsed.info.mint","op":"eq","value":"M1"}]`, true},
		{"eq string miss", `[{"path":"parsed.info.mint","op":"eq","value":"M2"}]`, false},
		{"ne string", `[{"path":"parsed.info.mint","op":"ne","value":"M2"}]`, true},
		{"ne missing path", `[{"path":"parsed.info.delegate","op":"ne","value":"X"}]`, true},
		{"eq missing path", `[{"path":"parsed.info.delegate","op":"eq","value":"X"}]`, false},
		{"gt numeric string", `[{"path":"parsed.info.tokenAmount.amount","op":"gt","value":"1000"}]`, true},
		{"gt is numeric not lexical", `[{"path":"parsed.info.tokenAmount.amount","op":"gt","value":"200"}]`, true},
		{"lte number", `[{"path":"parsed.info.tokenAmount.amount","op":"lte","value":1500}]`, true},
		{"lt equal", `[{"path":"parsed.info.tokenAmount.amount","op":"lt","value":"1500"}]`, false},
		{"gte decimal", `[{"path":"parsed.info.tokenAmount.uiAmount","op":"gte","value":"0.0015"}]`, true},
		{"big int", `[{"path":"parsed.info.big","op":"gt","value":"340282366920938463463374607431768211454"}]`, true},
		{"big int equal", `[{"path":"parsed.info.big","op":"eq","value":"340282366920938463463374607431768211455"}]`, true},
		{"number equals numeric string", `[{"path":"parsed.info.tokenAmount.decimals","op":"eq","value":"6"}]`, true},
		{"bool", `[{"path":"parsed.info.isNative","op":"eq","value":false}]`, true},
		{"in", `[{"path":"parsed.info.state","op":"in","value":["frozen","initialized"]}]`, true},
		{"in numbers", `[{"path":"lamports","op":"in","value":[1,2039280]}]`, true},
		{"in miss", `[{"path":"parsed.info.state","op":"in","value":["frozen"]}]`, false},
		{"exists", `[{"path":"parsed.info.tokenAmount","op":"exists"}]`, true},
		{"exists false", `[{"path":"parsed.info.delegate","op":"exists","value":false}]`, true},
		{"null is absent", `[{"path":"parsed.info.nothing","op":"exists"}]`, false},
		{"array index", `[{"path":"parsed.info.list.1.x","op":"eq","value":2}]`, true},
		{"bad array index", `[{"path":"parsed.info.list.x","op":"exists"}]`, false},
		{"string gt string", `[{"path":"parsed.info.state","op":"gt","value":"a"}]`, true},
		{"string vs number never orders", `[{"path":"parsed.info.state","op":"gt","value":1}]`, false},
		{"lamports", `[{"path":"lamports","op":"gte","value":"2039280"}]`, true},
		{"owner", `[{"path":"owner","op":"eq","value":"` + b58k(owner) + `"}]`, true},
		{"pubkey", `[{"path":"pubkey","op":"eq","value":"` + b58k(pk) + `"}]`, true},
		{"program", `[{"path":"program","op":"eq","value":"test"}]`, true},
		{"accountType", `[{"path":"accountType","op":"eq","value":"thing"}]`, true},
		{"slot", `[{"path":"slot","op":"lt","value":78}]`, true},
		{"space", `[{"path":"space","op":"eq","value":3}]`, true},
		{"commitment", `[{"path":"commitment","op":"eq","value":"confirmed"}]`, true},
		{"all must hold", `[{"path":"slot","op":"eq","value":77},{"path":"program","op":"eq","value":"other"}]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var specs []whereSpec
			if err := json.Unmarshal([]byte(tc.where), &specs); err != nil {
				t.Fatal(err)
			}
			w, err := parseWhere(specs)
			if err != nil {
				t.Fatal(err)
			}
			if got := matchWhere(a, w); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWhereUndecoded(t *testing.T) {
	t.Parallel()
	a := acct(key("o"), key("p"), 1, []byte{1}, "")
	a.Status = fireholev1.DecodeStatus_DECODE_STATUS_ERROR
	w, err := parseWhere([]whereSpec{{Path: "parsed.info.mint", Op: "exists", Value: json.RawMessage("false")}, {Path: "decodeStatus", Op: "eq", Value: json.RawMessage(`"error"`)}})
	if err != nil {
		t.Fatal(err)
	}
	if !matchWhere(a, w) {
		t.Fatal("an undecoded account has no parsed fields")
	}
}

func TestWhereParseErrors(t *testing.T) {
	t.Parallel()
	tests := []string{
		`[{"path":"","op":"eq","value":1}]`,
		`[{"path":"parsed..x","op":"eq","value":1}]`,
		`[{"path":"nope","op":"eq","value":1}]`,
		`[{"path":"lamports.x","op":"eq","value":1}]`,
		`[{"path":"lamports","op":"eq"}]`,
		`[{"path":"lamports","op":"gt","value":true}]`,
		`[{"path":"lamports","op":"in","value":1}]`,
		`[{"path":"lamports","op":"exists","value":"yes"}]`,
		`[{"path":"lamports","op":"regex","value":"x"}]`,
	}
	for _, in := range tests {
		var specs []whereSpec
		if err := json.Unmarshal([]byte(in), &specs); err != nil {
			t.Fatal(err)
		}
		if _, err := parseWhere(specs); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}
