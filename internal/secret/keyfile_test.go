package secret_test

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func keysEqual(a, b []secret.Key) bool {
	return slices.EqualFunc(a, b, func(x, y secret.Key) bool {
		return x.ID == y.ID && bytes.Equal(x.Secret, y.Secret)
	})
}

func TestFormatParseKeyFileRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []secret.Key
	}{
		{"one", []secret.Key{seqKey("k1", 0)}},
		{"three", []secret.Key{seqKey("2023", 0), seqKey("2024", 32), mustGenerateKey(t, "2025")}},
		{"long secret", []secret.Key{{ID: "big", Secret: bytes.Repeat([]byte{0xfb}, 100)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := secret.FormatKeyFile(tt.keys)
			if !bytes.HasPrefix(data, []byte("#")) {
				t.Errorf("FormatKeyFile output lacks a header comment:\n%s", data)
			}
			got, err := secret.ParseKeyFile(data)
			if err != nil {
				t.Fatalf("ParseKeyFile(FormatKeyFile()) error = %v", err)
			}
			if !keysEqual(got, tt.keys) {
				t.Fatalf("round trip = %v, want %v", got, tt.keys)
			}
			if kr := mustKeyring(t, got...); kr.ActiveID() != tt.keys[len(tt.keys)-1].ID {
				t.Errorf("active key = %q, want the last one in the file", kr.ActiveID())
			}
		})
	}
}

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	k1, k2 := seqKey("k1", 0), seqKey("k2", 32)
	short := []byte("0123456789abcdef") // 16 bytes
	tests := []struct {
		name    string
		data    string
		want    []secret.Key
		wantErr string
	}{
		{
			name: "comments blank lines and CRLF",
			data: "# keys\r\n\r\n  # indented comment\nk1:" + b64(k1.Secret) + "\r\n\n\t k2 : " + b64(k2.Secret) + "  \n",
			want: []secret.Key{k1, k2},
		},
		{
			name: "no trailing newline",
			data: "k1:" + b64(k1.Secret),
			want: []secret.Key{k1},
		},
		{name: "empty", data: "", wantErr: "no keys"},
		{name: "only comments", data: "# nothing\n\n", wantErr: "no keys"},
		{name: "missing id", data: "# header\n" + b64(k1.Secret) + "\n", wantErr: "line 2: missing ':'"},
		{name: "empty id", data: ":" + b64(k1.Secret), wantErr: "line 1: invalid key id"},
		{name: "bad id", data: "my key:" + b64(k1.Secret), wantErr: "line 1: invalid key id"},
		{name: "bad base64", data: "k1:" + b64(k1.Secret)[:20] + "!!" + b64(k1.Secret)[22:], wantErr: "line 1: key material is not valid standard base64"},
		{name: "url base64", data: "k1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)), wantErr: "not valid standard base64"},
		{name: "truncated base64", data: "k1:" + b64(k1.Secret)[:43], wantErr: "not valid standard base64"},
		{name: "short key", data: "k1:" + b64(k1.Secret) + "\nk2:" + b64(short), wantErr: "line 2: secret is 16 bytes, need at least 32"},
		{name: "empty key", data: "k1:", wantErr: "secret is 0 bytes"},
		{name: "duplicate id", data: "k1:" + b64(k1.Secret) + "\n\nk1:" + b64(k2.Secret), wantErr: `line 3: duplicate key id "k1"`},
		{name: "comma separated is not a key file", data: "k1:" + b64(k1.Secret) + ",k2:" + b64(k2.Secret), wantErr: "line 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secret.ParseKeyFile([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeyFile() error = %v, want it to contain %q", err, tt.wantErr)
				}
				for _, s := range [][]byte{k1.Secret, k2.Secret, short} {
					assertNoSecret(t, err, s)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyFile() error = %v", err)
			}
			if !keysEqual(got, tt.want) {
				t.Errorf("ParseKeyFile() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseKeyString(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := seqKey("k1", 0), seqKey("k2", 32), seqKey("k3", 64)
	tests := []struct {
		name    string
		in      string
		want    []secret.Key
		wantErr string
	}{
		{name: "bare key", in: b64(k1.Secret), want: []secret.Key{k1}},
		{name: "bare key with newline", in: b64(k1.Secret) + "\n", want: []secret.Key{k1}},
		{name: "single with id", in: "k2:" + b64(k2.Secret), want: []secret.Key{k2}},
		{name: "commas", in: "k1:" + b64(k1.Secret) + ",k2:" + b64(k2.Secret), want: []secret.Key{k1, k2}},
		{name: "spaces", in: "k1:" + b64(k1.Secret) + " k2:" + b64(k2.Secret), want: []secret.Key{k1, k2}},
		{name: "mixed", in: " k1:" + b64(k1.Secret) + " ,\tk2:" + b64(k2.Secret) + "\n# c\nk3:" + b64(k3.Secret) + ",", want: []secret.Key{k1, k2, k3}},
		{name: "bare first then named", in: b64(k1.Secret) + ",k2:" + b64(k2.Secret), want: []secret.Key{k1, k2}},
		{name: "key file", in: string(secret.FormatKeyFile([]secret.Key{k1, k2})), want: []secret.Key{k1, k2}},
		{name: "empty", in: "", wantErr: "no keys"},
		{name: "separators only", in: " , \n,", wantErr: "no keys"},
		{name: "two bare keys", in: b64(k1.Secret) + "," + b64(k2.Secret), wantErr: `key 2: duplicate key id "k1" (a key without "ID:" is named "k1")`},
		{name: "bare and k1", in: "k1:" + b64(k1.Secret) + "," + b64(k2.Secret), wantErr: `key 2: duplicate key id "k1"`},
		{name: "short bare", in: b64(k1.Secret[:31]), wantErr: "key 1: secret is 31 bytes"},
		{name: "bad base64", in: "k1:" + b64(k1.Secret) + ",k2:" + strings.Repeat("*", 44), wantErr: "key 2: key material is not valid standard base64"},
		{name: "bad id", in: "k/1:" + b64(k1.Secret), wantErr: "key 1: invalid key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secret.ParseKeyString(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeyString() error = %v, want it to contain %q", err, tt.wantErr)
				}
				for _, s := range [][]byte{k1.Secret, k2.Secret} {
					assertNoSecret(t, err, s)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyString() error = %v", err)
			}
			if !keysEqual(got, tt.want) {
				t.Errorf("ParseKeyString() = %v, want %v", got, tt.want)
			}
		})
	}
}
