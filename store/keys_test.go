package store_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// keyWorld writes tokens, sessions and webhooks the way the server does,
// under a chosen keyring.
type keyWorld struct {
	t       *testing.T
	st      *store.Store
	company *store.Client
	user    *store.User
	now     time.Time
}

func newKeyWorld(t *testing.T, st *store.Store) *keyWorld {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	w := &keyWorld{t: t, st: st, now: now, company: &store.Client{UUID: uuid.NewString(), Name: "Acme", Enabled: true}}
	testenv.Must(t, st.CreateClient(ctx, w.company))
	w.user = &store.User{UUID: uuid.NewString(), ClientID: w.company.ID, Email: uuid.NewString() + "@example.com",
		Realname: "admin", Role: "admin", Enabled: true, APIAccess: true, CreatedAt: now, UpdatedAt: now}
	testenv.Must(t, st.CreateUser(ctx, w.user))
	return w
}

// token stores a new token value digested (and, if sealed, sealed) under
// ring's active key; label false leaves digest_key_id NULL, as rows
// written before migration 00005 are.
func (w *keyWorld) token(ring *secret.Keyring, sealed, label bool) (*store.Token, string) {
	w.t.Helper()
	value, err := secret.NewAPIToken()
	testenv.Must(w.t, err)
	tok := &store.Token{ClientID: w.company.ID, UserID: &w.user.ID, Realname: "t", Permissions: []string{"admin"},
		SourceRole: "admin", Enabled: true, CreatedAt: w.now, UpdatedAt: w.now,
		Hint: secret.Hint(value), Digest: ring.Digest(value)}
	if label {
		tok.DigestKeyID = ref(ring.DigestID())
	}
	if sealed {
		ct, id, err := ring.Seal(value, tok.Digest)
		testenv.Must(w.t, err)
		tok.SecretCiphertext, tok.SecretKeyID = ct, &id
	}
	testenv.Must(w.t, w.st.DB().Create(tok).Error)
	return tok, value
}

func (w *keyWorld) session(ring *secret.Keyring, expires time.Time, label bool) {
	w.t.Helper()
	value, err := secret.NewSessionToken()
	testenv.Must(w.t, err)
	s := &store.Session{UserID: w.user.ID, Digest: ring.Digest(value), ExpiresAt: expires, CreatedAt: w.now}
	if label {
		s.DigestKeyID = ref(ring.DigestID())
	}
	testenv.Must(w.t, w.st.DB().Create(s).Error)
}

func (w *keyWorld) webhook(ring *secret.Keyring) {
	w.t.Helper()
	h := &store.Webhook{UUID: uuid.NewString(), ClientID: w.company.ID, URL: "https://example.com/hook",
		Events: []string{"token.expiring"}, Enabled: true, CreatedAt: w.now, UpdatedAt: w.now}
	ct, id, err := ring.Seal("signing key", h.AAD())
	testenv.Must(w.t, err)
	h.SecretCiphertext, h.SecretKeyID = ct, id
	testenv.Must(w.t, w.st.DB().Create(h).Error)
}

func testKey(t *testing.T, id string) secret.Key {
	k, err := secret.GenerateKey(id)
	testenv.Must(t, err)
	return k
}

func testRing(t *testing.T, keys ...secret.Key) *secret.Keyring {
	r, err := secret.NewKeyring(keys...)
	testenv.Must(t, err)
	return r
}

// R13: the store says which key ids its rows depend on, labels digests
// from before migration 00005, and counts what each key still holds.
func TestKeyUse(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		st := b.OpenStore(t)
		held, err := st.HasCredentials(ctx)
		testenv.Must(t, err)
		if held {
			t.Fatal("HasCredentials on an empty database = true")
		}
		ids, err := st.KeyIDsInUse(ctx)
		testenv.Must(t, err)
		if len(ids) != 0 {
			t.Fatalf("KeyIDsInUse on an empty database = %v", ids)
		}

		k1, k2 := testKey(t, "k1"), testKey(t, "k2")
		r1, r12 := testRing(t, k1), testRing(t, k1, k2)
		w := newKeyWorld(t, st)
		w.token(r1, true, false)  // before 00005: sealed, unlabelled
		w.token(r1, false, false) // before 00005: show-once, unlabelled
		w.token(r1, true, true)
		w.token(r1, false, true)
		w.token(r12, true, true)
		w.session(r1, w.now.Add(time.Hour), false)
		w.session(r1, w.now.Add(-time.Hour), true) // expired: counts for nothing
		w.session(r12, w.now.Add(time.Hour), true)
		w.webhook(r12)

		held, err = st.HasCredentials(ctx)
		testenv.Must(t, err)
		if !held {
			t.Fatal("HasCredentials = false with tokens stored")
		}
		ids, err = st.KeyIDsInUse(ctx)
		testenv.Must(t, err)
		if want := []string{"k1", "k2"}; !slices.Equal(ids, want) {
			t.Fatalf("KeyIDsInUse = %v, want %v", ids, want)
		}
		use, err := st.CountKeyUse(ctx)
		testenv.Must(t, err)
		want := map[string]store.KeyUse{
			"":   {Digests: 2, Unreadable: 1, Sessions: 1},
			"k1": {Sealed: 2, Digests: 2, Unreadable: 1},
			"k2": {Sealed: 1, Digests: 1, Webhooks: 1, Sessions: 1},
		}
		if !maps.Equal(use, want) {
			t.Fatalf("CountKeyUse = %+v, want %+v", use, want)
		}

		tok, err := st.UnlabelledSealedToken(ctx)
		testenv.Must(t, err)
		if tok.DigestKeyID != nil || len(tok.SecretCiphertext) == 0 {
			t.Fatalf("UnlabelledSealedToken = %+v", tok)
		}
		n, err := st.AdoptDigestKey(ctx, "k1")
		testenv.Must(t, err)
		if n != 3 { // two tokens, one session
			t.Fatalf("AdoptDigestKey labelled %d rows, want 3", n)
		}
		if n, err = st.AdoptDigestKey(ctx, "k9"); err != nil || n != 0 {
			t.Fatalf("second AdoptDigestKey = %d, %v; want 0: labels are final", n, err)
		}
		if _, err := st.UnlabelledSealedToken(ctx); err != store.ErrNotFound {
			t.Fatalf("UnlabelledSealedToken after adoption: %v, want ErrNotFound", err)
		}
		use, err = st.CountKeyUse(ctx)
		testenv.Must(t, err)
		want = map[string]store.KeyUse{
			"k1": {Sealed: 2, Digests: 4, Unreadable: 2, Sessions: 1},
			"k2": {Sealed: 1, Digests: 1, Webhooks: 1, Sessions: 1},
		}
		if !maps.Equal(use, want) {
			t.Fatalf("CountKeyUse after adoption = %+v, want %+v", use, want)
		}
	})
}

// R13: rotation re-seals and re-digests every token whose value it can
// read, leaves show-once tokens on their old digest key, and the moved
// tokens are found under the new digest.
func TestRotateTokenSecrets(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		st := b.OpenStore(t)
		k1, k2 := testKey(t, "k1"), testKey(t, "k2")
		r1, r12 := testRing(t, k1), testRing(t, k1, k2)
		w := newKeyWorld(t, st)
		values := map[int64]string{}
		for i := range 7 {
			tok, v := w.token(r1, i != 3, true) // token 4 is show-once
			values[tok.ID] = v
		}
		rotate := func(t2 *store.Token) error {
			v, err := r12.Open(t2.SecretCiphertext, *t2.SecretKeyID, t2.Digest)
			if err != nil {
				return err
			}
			if v != values[t2.ID] {
				t.Errorf("token %d opened to another value", t2.ID)
			}
			d := r12.Digest(v)
			ct, id, err := r12.Seal(v, d)
			if err != nil {
				return err
			}
			t2.Digest, t2.DigestKeyID, t2.SecretCiphertext, t2.SecretKeyID = d, ref(r12.DigestID()), ct, &id
			return nil
		}
		// Re-encrypt only (digest key ""): digests stay under k1.
		reseal := func(t2 *store.Token) error {
			v, err := r12.Open(t2.SecretCiphertext, *t2.SecretKeyID, t2.Digest)
			if err != nil {
				return err
			}
			ct, id, err := r12.Seal(v, t2.Digest)
			t2.SecretCiphertext, t2.SecretKeyID = ct, &id
			return err
		}
		n, err := st.RotateTokenSecrets(ctx, "k2", "", 2, reseal)
		testenv.Must(t, err)
		if n != 6 {
			t.Fatalf("re-encrypting RotateTokenSecrets = %d, want 6", n)
		}
		if n, err = st.RotateTokenSecrets(ctx, "k2", "", 2, reseal); err != nil || n != 0 {
			t.Fatalf("second re-encrypting RotateTokenSecrets = %d, %v; want 0", n, err)
		}
		if use, _ := st.CountKeyUse(ctx); use["k1"].Digests != 7 || use["k2"].Sealed != 6 {
			t.Fatalf("after re-encrypting only: %+v", use)
		}
		n, err = st.RotateTokenSecrets(ctx, "k2", "k2", 2, rotate) // small batches: several rounds
		testenv.Must(t, err)
		if n != 6 {
			t.Fatalf("RotateTokenSecrets = %d, want the 6 sealed tokens", n)
		}
		if n, err = st.RotateTokenSecrets(ctx, "k2", "k2", 2, rotate); err != nil || n != 0 {
			t.Fatalf("second RotateTokenSecrets = %d, %v; want 0", n, err)
		}
		var rows []store.Token
		testenv.Must(t, st.DB().Order("id").Find(&rows).Error)
		for _, r := range rows {
			v := values[r.ID]
			if r.SecretCiphertext == nil {
				if *r.DigestKeyID != "k1" || !bytes.Equal(r.Digest, r1.Digest(v)) {
					t.Errorf("show-once token %d moved: digest key %q", r.ID, *r.DigestKeyID)
				}
				continue
			}
			if *r.DigestKeyID != "k2" || *r.SecretKeyID != "k2" || !bytes.Equal(r.Digest, r12.Digest(v)) {
				t.Errorf("token %d after rotation: digest key %q, seal key %q", r.ID, *r.DigestKeyID, *r.SecretKeyID)
			}
			if got, err := r12.Open(r.SecretCiphertext, *r.SecretKeyID, r.Digest); err != nil || got != v {
				t.Errorf("token %d does not open after rotation: %v", r.ID, err)
			}
			// Found by the lookup digests of the rotated ring, under the new key.
			var found store.Token
			testenv.Must(t, st.DB().Where("digest IN ?", r12.LookupDigests(v)).Take(&found).Error)
			if found.ID != r.ID {
				t.Errorf("lookup of token %d found %d", r.ID, found.ID)
			}
		}
		use, err := st.CountKeyUse(ctx)
		testenv.Must(t, err)
		if u := use["k1"]; u.Digests != 1 || u.Unreadable != 1 || u.Sealed != 0 {
			t.Errorf("after rotation, k1 holds %+v; want the show-once token's digest only", u)
		}
	})
}

// The SQLite file holds digests and sealed values: it is created 0600, and
// so are the WAL and shared-memory files SQLite derives from it.
func TestSQLiteFileMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokend.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	testenv.Must(t, err)
	defer st.Close()
	_, err = st.Migrate(context.Background())
	testenv.Must(t, err)
	for _, name := range []string{"tokend.db", "tokend.db-wal", "tokend.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	// An existing file keeps its mode: the operator chose it.
	other := filepath.Join(dir, "existing.db")
	testenv.Must(t, os.WriteFile(other, nil, 0o640))
	st2, err := store.Open(context.Background(), "sqlite:"+other)
	testenv.Must(t, err)
	st2.Close()
	if fi, _ := os.Stat(other); fi.Mode().Perm() != 0o640 {
		t.Errorf("existing file's mode changed to %v", fi.Mode().Perm())
	}
}

// Compact leaves no bytes of an overwritten ciphertext in the SQLite
// files (tokend rotate-key runs it).
func TestCompactRemovesOverwrittenBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokend.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	testenv.Must(t, err)
	defer st.Close()
	_, err = st.Migrate(context.Background())
	testenv.Must(t, err)
	w := newKeyWorld(t, st)
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	tok, _ := w.token(testRing(t, k1), true, true)
	old := bytes.Clone(tok.SecretCiphertext)
	if !filesContain(t, path, old) {
		t.Fatal("the ciphertext is not in the database files: the check below would prove nothing")
	}
	r12 := testRing(t, k1, k2)
	_, err = st.RotateTokenSecrets(context.Background(), "k2", "k2", 10, func(t2 *store.Token) error {
		v, err := r12.Open(t2.SecretCiphertext, *t2.SecretKeyID, t2.Digest)
		if err != nil {
			return err
		}
		d := r12.Digest(v)
		ct, id, err := r12.Seal(v, d)
		t2.Digest, t2.DigestKeyID, t2.SecretCiphertext, t2.SecretKeyID = d, ref("k2"), ct, &id
		return err
	})
	testenv.Must(t, err)
	testenv.Must(t, st.Compact(context.Background()))
	if filesContain(t, path, old) {
		t.Fatal("old ciphertext bytes remain in the database files after Compact")
	}
	if filesContain(t, path, tok.Digest) {
		t.Fatal("the old digest remains in the database files after Compact")
	}
}

// filesContain reports whether the SQLite database or its WAL holds b.
func filesContain(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		testenv.Must(t, err)
		if bytes.Contains(data, b) {
			return true
		}
	}
	return false
}
