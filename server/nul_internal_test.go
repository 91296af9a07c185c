package server

import "testing"

func TestHasNUL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"realname":"plain"}`, false},
		{`{"realname":"a\u0000b"}`, true},
		{"{\"realname\":\"a\x00b\"}", true},
		{`{"realname":"a\\u0000b"}`, false}, // a backslash, then the text u0000
		{`{"realname":"a\\\u0000b"}`, true}, // a backslash, then NUL
		{`{"realname":"\u00000"}`, true},
		{`{"realname":"u0000"}`, false},
		{`u0000`, false},
		{``, false},
	} {
		if got := hasNUL([]byte(tc.body)); got != tc.want {
			t.Errorf("hasNUL(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}
