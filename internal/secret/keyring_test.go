package secret_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

// Known answers computed independently (Python hmac/hashlib and
// cryptography's AESGCM) for the master key bytes 0..31 and goldenAPI.
const (
	goldenDigest  = "e08f69c9ac21ee246738813544307417136e332965be66b905084cd704bd4a85"
	goldenDigest2 = "2d311ce97f2cac143b83e75eae8072be4eacfa585fa2b77108d72764be674c26" // master key bytes 32..63
	goldenSealed  = "6465666768696a6b6c6d6e6f539ae9d362f13f406c41a46b809b13092ce77eccccede2893c104ebd0e95fa61eebabcb46e6cf62d0e6bc358cab6a39967bc1ace5638f17907dda717bdcc3adcf4b8"
	goldenAAD     = "token:42"
)

// seqKey returns a key whose secret is the bytes start, start+1, ….
func seqKey(id string, start byte) secret.Key {
	k := secret.Key{ID: id, Secret: make([]byte, 32)}
	for i := range k.Secret {
		k.Secret[i] = start + byte(i)
	}
	return k
}

func mustKeyring(t testing.TB, keys ...secret.Key) *secret.Keyring {
	t.Helper()
	kr, err := secret.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustGenerateKey(t testing.TB, id string) secret.Key {
	t.Helper()
	k, err := secret.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewKeyring(t *testing.T) {
	t.Parallel()
	k1, k2 := seqKey("k1", 0), seqKey("k2", 32)
	tests := []struct {
		name    string
		keys    []secret.Key
		active  string
		wantErr string
	}{
		{"one key", []secret.Key{k1}, "k1", ""},
		{"last key is active", []secret.Key{k1, k2}, "k2", ""},
		{"order matters", []secret.Key{k2, k1}, "k1", ""},
		{"long key", []secret.Key{{ID: "big", Secret: make([]byte, 64)}}, "big", ""},
		{"id charset", []secret.Key{{ID: "2025-01_prod.a", Secret: k1.Secret}}, "2025-01_prod.a", ""},
		{"no keys", nil, "", "at least one key"},
		{"duplicate id", []secret.Key{k1, {ID: "k1", Secret: k2.Secret}}, "", `key 2: duplicate key id "k1"`},
		{"short secret", []secret.Key{k1, {ID: "k2", Secret: k2.Secret[:31]}}, "", "key 2: secret is 31 bytes, need at least 32"},
		{"nil secret", []secret.Key{{ID: "k1"}}, "", "secret is 0 bytes"},
		{"empty id", []secret.Key{{Secret: k1.Secret}}, "", "invalid key id"},
		{"id with colon", []secret.Key{{ID: "a:b", Secret: k1.Secret}}, "", "invalid key id"},
		{"id with space", []secret.Key{{ID: "a b", Secret: k1.Secret}}, "", "invalid key id"},
		{"id too long", []secret.Key{{ID: strings.Repeat("a", 33), Secret: k1.Secret}}, "", "invalid key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := secret.NewKeyring(tt.keys...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewKeyring() error = %v, want it to contain %q", err, tt.wantErr)
				}
				for _, k := range tt.keys {
					assertNoSecret(t, err, k.Secret)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewKeyring() error = %v", err)
			}
			if got := kr.ActiveID(); got != tt.active {
				t.Errorf("ActiveID() = %q, want %q", got, tt.active)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	a, b := mustGenerateKey(t, "a"), mustGenerateKey(t, "b")
	if a.ID != "a" || len(a.Secret) != secret.MinKeySize {
		t.Errorf("GenerateKey(%q) = id %q, %d bytes; want id %q, %d bytes", "a", a.ID, len(a.Secret), "a", secret.MinKeySize)
	}
	if bytes.Equal(a.Secret, b.Secret) {
		t.Error("two generated keys are equal")
	}
	for _, id := range []string{"", "a:b", "a,b", "a b", strings.Repeat("x", 33)} {
		if _, err := secret.GenerateKey(id); err == nil {
			t.Errorf("GenerateKey(%q) succeeded, want an invalid-id error", id)
		}
	}
}

func TestKeyFormattingRedactsSecret(t *testing.T) {
	t.Parallel()
	k := seqKey("k1", 'A') // printable secret, so a leak would be visible
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(format, k)
		if strings.Contains(out, "ABCDEFGH") || strings.Contains(out, "4142434445") {
			t.Errorf("fmt %s of a Key = %q, leaks the secret", format, out)
		}
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := seqKey("k1", 0), seqKey("k2", 32), seqKey("k3", 64)
	golden3 := hex.EncodeToString(referenceDigest(k3.Secret, goldenAPI))
	tests := []struct {
		name string
		keys []secret.Key
		want string // under the active (last) key
	}{
		{"first key", []secret.Key{k1}, goldenDigest},
		{"other key", []secret.Key{k2}, goldenDigest2},
		// R13: a new key digests new values; it must not move the digests
		// of the older keys (DigestWith and LookupDigests check that).
		{"after rotation", []secret.Key{k1, k2}, goldenDigest2},
		{"after two rotations", []secret.Key{k1, k2, k3}, golden3},
		{"older key retired", []secret.Key{k2, k3}, golden3},
		{"same secret under another id", []secret.Key{{ID: "other", Secret: k1.Secret}}, goldenDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := mustKeyring(t, tt.keys...)
			got := kr.Digest(goldenAPI)
			if hex.EncodeToString(got) != tt.want {
				t.Errorf("Digest(%q) = %x, want %s", goldenAPI, got, tt.want)
			}
			if len(got) != secret.DigestSize {
				t.Errorf("len(Digest) = %d, want %d", len(got), secret.DigestSize)
			}
			if again := kr.Digest(goldenAPI); !secret.Equal(got, again) {
				t.Errorf("Digest is not deterministic: %x then %x", got, again)
			}
			if id := kr.DigestID(); id != tt.keys[len(tt.keys)-1].ID {
				t.Errorf("DigestID() = %q, want the last key %q", id, tt.keys[len(tt.keys)-1].ID)
			}
			// Every key's digest is its own, whatever its position.
			for _, k := range tt.keys {
				d, err := kr.DigestWith(k.ID, goldenAPI)
				if err != nil || !bytes.Equal(d, referenceDigest(k.Secret, goldenAPI)) {
					t.Errorf("DigestWith(%q) = %x, %v; want %x", k.ID, d, err, referenceDigest(k.Secret, goldenAPI))
				}
			}
		})
	}
}

func TestDigests(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := seqKey("k1", 0), seqKey("k2", 32), seqKey("k3", 64)
	tests := []struct {
		name string
		keys []secret.Key
		want []string // key ids, in lookup order
	}{
		{"one key", []secret.Key{k1}, []string{"k1"}},
		{"two keys", []secret.Key{k1, k2}, []string{"k2", "k1"}},
		{"three keys: active, then newest to oldest", []secret.Key{k1, k2, k3}, []string{"k3", "k2", "k1"}},
		{"order of the file decides", []secret.Key{k3, k1, k2}, []string{"k2", "k1", "k3"}},
	}
	secrets := map[string][]byte{"k1": k1.Secret, "k2": k2.Secret, "k3": k3.Secret}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := mustKeyring(t, tt.keys...)
			for _, in := range []string{goldenAPI, goldenLegacy, "", strings.Repeat("x", 200)} {
				all := kr.Digests(in)
				lookup := kr.LookupDigests(in)
				if len(all) != len(tt.want) || len(lookup) != len(tt.want) {
					t.Fatalf("Digests: %d, LookupDigests: %d entries; want %d", len(all), len(lookup), len(tt.want))
				}
				for i, id := range tt.want {
					want := referenceDigest(secrets[id], in)
					if all[i].KeyID != id || !bytes.Equal(all[i].Digest, want) {
						t.Errorf("Digests[%d] = %s:%x, want %s:%x", i, all[i].KeyID, all[i].Digest, id, want)
					}
					if !bytes.Equal(lookup[i], want) {
						t.Errorf("LookupDigests[%d] = %x, want %x", i, lookup[i], want)
					}
					if len(all[i].Digest) != secret.DigestSize || cap(all[i].Digest) != secret.DigestSize {
						t.Errorf("Digests[%d] has len %d cap %d: appending to it would clobber the next", i, len(all[i].Digest), cap(all[i].Digest))
					}
				}
				if !bytes.Equal(lookup[0], kr.Digest(in)) {
					t.Error("LookupDigests[0] is not Digest")
				}
			}
			if got := kr.IDs(); !slices.Equal(got, idsOf(tt.keys)) {
				t.Errorf("IDs() = %v, want %v", got, idsOf(tt.keys))
			}
			for _, k := range tt.keys {
				if !kr.Has(k.ID) {
					t.Errorf("Has(%q) = false", k.ID)
				}
			}
			if kr.Has("k9") {
				t.Error(`Has("k9") = true`)
			}
		})
	}
}

func TestDigestWithUnknownKey(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, seqKey("k1", 0))
	for _, id := range []string{"k2", "", "K1"} {
		if d, err := kr.DigestWith(id, goldenAPI); !errors.Is(err, secret.ErrUnknownKey) || d != nil {
			t.Errorf("DigestWith(%q) = %x, %v; want nil, ErrUnknownKey", id, d, err)
		}
	}
}

// The active key's digest must stay as cheap as before per-key digests:
// one allocation, for the result. Looking up under every key costs two
// allocations whatever the number of keys.
func TestDigestAllocations(t *testing.T) {
	// Not parallel: testing.AllocsPerRun refuses parallel tests.
	if raceEnabled {
		t.Skip("sync.Pool drops objects at random under the race detector")
	}
	kr := mustKeyring(t, seqKey("k1", 0), seqKey("k2", 32), seqKey("k3", 64))
	for name, tt := range map[string]struct {
		f    func()
		want float64
	}{
		"Digest":        {func() { kr.Digest(goldenAPI) }, 1},
		"DigestWith":    {func() { _, _ = kr.DigestWith("k1", goldenAPI) }, 1},
		"Digests":       {func() { kr.Digests(goldenAPI) }, 2},
		"LookupDigests": {func() { kr.LookupDigests(goldenAPI) }, 2},
	} {
		if n := testing.AllocsPerRun(200, tt.f); n > tt.want {
			t.Errorf("%s allocates %v times, want at most %v", name, n, tt.want)
		}
	}
}

func idsOf(keys []secret.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func TestDigestInputs(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, seqKey("k1", 0))
	// Lengths around the internal staging buffer exercise the chunked write.
	inputs := []string{"", "a", "b", goldenAPI, goldenSession, goldenLegacy,
		strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("x", 65), strings.Repeat("x", 1000)}
	seen := make(map[string]string)
	for _, in := range inputs {
		got := kr.Digest(in)
		if want := referenceDigest(seqKey("k1", 0).Secret, in); !bytes.Equal(got, want) {
			t.Errorf("Digest(%.20q…) = %x, want %x", in, got, want)
		}
		if prev, ok := seen[string(got)]; ok {
			t.Errorf("Digest(%.20q) = Digest(%.20q)", in, prev)
		}
		seen[string(got)] = in
	}
}

func TestDigestConcurrent(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, seqKey("k1", 0))
	want, _ := hex.DecodeString(goldenDigest)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				in := goldenAPI
				if (i+j)%2 == 1 {
					in = strings.Repeat("y", 100) // leaves state in the pooled MAC if Reset were missing
				}
				if got := kr.Digest(in); in == goldenAPI && !bytes.Equal(got, want) {
					t.Errorf("concurrent Digest = %x, want %x", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, mustGenerateKey(t, "old"), mustGenerateKey(t, "new"))
	tests := []struct {
		name      string
		plaintext string
		aad       []byte
	}{
		{"api token", goldenAPI, []byte("token:1")},
		{"legacy", goldenLegacy, []byte("token:2")},
		{"empty plaintext", "", []byte("token:3")},
		{"nil aad", "hello", nil},
		{"unicode", "pässwörd ✓", []byte{0, 1, 2}},
		{"binary", "\x00\xff\x80", []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, keyID, err := kr.Seal(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if keyID != "new" {
				t.Errorf("Seal key id = %q, want the active key %q", keyID, "new")
			}
			if want := 12 + len(tt.plaintext) + 16; len(ct) != want {
				t.Errorf("len(ciphertext) = %d, want nonce+plaintext+tag = %d", len(ct), want)
			}
			if len(tt.plaintext) >= 4 && bytes.Contains(ct, []byte(tt.plaintext)) {
				t.Error("ciphertext contains the plaintext")
			}
			got, err := kr.Open(ct, keyID, tt.aad)
			if err != nil || got != tt.plaintext {
				t.Fatalf("Open() = %q, %v; want %q, nil", got, err, tt.plaintext)
			}
			ct2, _, _ := kr.Seal(tt.plaintext, tt.aad)
			if bytes.Equal(ct, ct2) {
				t.Error("sealing twice gave the same ciphertext; nonce is not random")
			}
		})
	}
}

func TestOpenGolden(t *testing.T) {
	t.Parallel()
	kr := mustKeyring(t, seqKey("k1", 0))
	ct, _ := hex.DecodeString(goldenSealed)
	got, err := kr.Open(ct, "k1", []byte(goldenAAD))
	if err != nil || got != goldenAPI {
		t.Fatalf("Open(golden) = %q, %v; want %q", got, err, goldenAPI)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	k1, k2 := seqKey("k1", 0), seqKey("k2", 32)
	kr := mustKeyring(t, k1, k2)
	aad := []byte("token:7")
	ct, keyID, err := kr.Seal(goldenAPI, aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name  string
		ct    []byte
		keyID string
		aad   []byte
		want  error
	}{
		{"wrong aad", ct, keyID, []byte("token:8"), secret.ErrDecrypt},
		{"missing aad", ct, keyID, nil, secret.ErrDecrypt},
		{"other key's id", ct, "k1", aad, secret.ErrDecrypt},
		{"unknown key id", ct, "k9", aad, secret.ErrUnknownKey},
		{"empty key id", ct, "", aad, secret.ErrUnknownKey},
		{"tampered nonce", flip(0), keyID, aad, secret.ErrDecrypt},
		{"tampered body", flip(20), keyID, aad, secret.ErrDecrypt},
		{"tampered tag", flip(len(ct) - 1), keyID, aad, secret.ErrDecrypt},
		{"truncated", ct[:len(ct)-1], keyID, aad, secret.ErrDecrypt},
		{"nonce only", ct[:12], keyID, aad, secret.ErrDecrypt},
		{"empty", nil, keyID, aad, secret.ErrDecrypt},
		{"extended", append(bytes.Clone(ct), 0), keyID, aad, secret.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kr.Open(tt.ct, tt.keyID, tt.aad)
			if !errors.Is(err, tt.want) || got != "" {
				t.Errorf("Open() = %q, %v; want \"\", %v", got, err, tt.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := mustGenerateKey(t, "2024"), mustGenerateKey(t, "2025")
	before := mustKeyring(t, k1)
	after := mustKeyring(t, k1, k2)
	aad := []byte("token:1")

	oldCT, oldID, err := before.Seal(goldenAPI, aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := after.Open(oldCT, oldID, aad); err != nil || got != goldenAPI {
		t.Errorf("after rotation, Open(old ciphertext) = %q, %v; want %q", got, err, goldenAPI)
	}

	newCT, newID, err := after.Seal(goldenAPI, aad)
	if err != nil {
		t.Fatal(err)
	}
	if newID != "2025" {
		t.Errorf("after rotation, Seal key id = %q, want %q", newID, "2025")
	}
	if _, err := before.Open(newCT, newID, aad); !errors.Is(err, secret.ErrUnknownKey) {
		t.Errorf("old keyring Open(new ciphertext) error = %v, want ErrUnknownKey", err)
	}
	// A value digested before the rotation is still found: its digest is
	// among the lookup digests, under the old key's id.
	old := before.Digest(goldenAPI)
	if !slices.ContainsFunc(after.LookupDigests(goldenAPI), func(d []byte) bool { return bytes.Equal(d, old) }) {
		t.Error("after rotation, the digest made under the old key is not looked up")
	}
	if d, err := after.DigestWith("2024", goldenAPI); err != nil || !bytes.Equal(d, old) {
		t.Errorf("after rotation, DigestWith(old key) = %x, %v; want %x", d, err, old)
	}
	if bytes.Equal(after.Digest(goldenAPI), old) {
		t.Error("after rotation, new values are still digested under the old key")
	}
	if after.DigestID() != "2025" {
		t.Errorf("after rotation, DigestID() = %q, want %q", after.DigestID(), "2025")
	}
}

// TestSubkeysIndependent checks that the digest is not simply an HMAC
// under the master key or under the encryption subkey.
func TestSubkeysIndependent(t *testing.T) {
	t.Parallel()
	master := seqKey("k1", 0).Secret
	got := mustKeyring(t, seqKey("k1", 0)).Digest(goldenAPI)
	sealKey, err := hkdf.Key(sha256.New, master, nil, "tokend seal v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string][]byte{"master key": master, "seal subkey": sealKey} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(goldenAPI))
		if bytes.Equal(got, m.Sum(nil)) {
			t.Errorf("digest equals HMAC under the %s", name)
		}
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b []byte
		want bool
	}{
		{nil, nil, true},
		{[]byte{}, nil, true},
		{[]byte("abc"), []byte("abc"), true},
		{[]byte("abc"), []byte("abd"), false},
		{[]byte("abc"), []byte("ab"), false},
		{[]byte("abc"), nil, false},
	}
	for _, tt := range tests {
		if got := secret.Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// referenceDigest spells out the documented construction with the
// standard library, independently of the pooled implementation.
func referenceDigest(master []byte, token string) []byte {
	m := hmac.New(sha256.New, referenceDigestKey(master))
	m.Write([]byte(token))
	return m.Sum(nil)
}

func referenceDigestKey(master []byte) []byte {
	key, err := hkdf.Key(sha256.New, master, nil, "tokend digest v1", 32)
	if err != nil {
		panic(err)
	}
	return key
}

// assertNoSecret fails if err's message contains the secret in raw,
// base64 or hex form, or any 8-character piece of those.
func assertNoSecret(t *testing.T, err error, secretBytes []byte) {
	t.Helper()
	if err == nil || len(secretBytes) < 8 {
		return
	}
	msg := err.Error()
	for _, form := range []string{string(secretBytes), b64(secretBytes), hex.EncodeToString(secretBytes)} {
		for i := 0; i+8 <= len(form); i++ {
			if strings.Contains(msg, form[i:i+8]) {
				t.Fatalf("error %q contains secret material %q", msg, form[i:i+8])
			}
		}
	}
}
