package index

import "testing"

func TestOverlayMembers(t *testing.T) {
	m := func(key, val string) member {
		var x member
		copy(x.key[:], key)
		x.val = []byte(val)
		return x
	}
	name := m("00100010", `{"vr":"PN","Value":[{"Alphabetic":"New^Name"}]}`)
	sex := m("00100040", `{"vr":"CS","Value":["O"]}`)
	for _, tc := range []struct {
		name, in string
		over     []member
		want     string
	}{
		{"replace", `{"00080016":{"vr":"UI","Value":["1.2"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"Old"}]},"0020000D":{"vr":"UI"}}`,
			[]member{name}, `{"00080016":{"vr":"UI","Value":["1.2"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"New^Name"}]},"0020000D":{"vr":"UI"}}`},
		{"insert in order", `{"00080016":{"vr":"UI"},"00100020":{"vr":"LO","Value":["P"]}}`,
			[]member{name, sex}, `{"00080016":{"vr":"UI"},"00100010":{"vr":"PN","Value":[{"Alphabetic":"New^Name"}]},"00100020":{"vr":"LO","Value":["P"]},"00100040":{"vr":"CS","Value":["O"]}}`},
		{"nested keys untouched", `{"00101002":{"vr":"SQ","Value":[{"00100010":{"vr":"PN"}}]}}`,
			[]member{name}, `{"00100010":{"vr":"PN","Value":[{"Alphabetic":"New^Name"}]},"00101002":{"vr":"SQ","Value":[{"00100010":{"vr":"PN"}}]}}`},
		{"strings with braces and escapes", `{"00081030":{"vr":"LO","Value":["a}\"{b"]}}`,
			[]member{sex}, `{"00081030":{"vr":"LO","Value":["a}\"{b"]},"00100040":{"vr":"CS","Value":["O"]}}`},
		{"empty object", `{}`, []member{sex}, `{"00100040":{"vr":"CS","Value":["O"]}}`},
		{"malformed kept", `{"0010`, []member{sex}, `{"0010`},
		{"no overlay", `{"x":1}`, nil, `{"x":1}`},
	} {
		if got := string(overlayMembers(nil, []byte(tc.in), tc.over)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
