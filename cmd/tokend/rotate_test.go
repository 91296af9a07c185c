package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func genKey(t *testing.T, id string) secret.Key {
	t.Helper()
	k, err := secret.GenerateKey(id)
	testenv.Must(t, err)
	return k
}

func ring(t *testing.T, keys ...secret.Key) *secret.Keyring {
	t.Helper()
	r, err := secret.NewKeyring(keys...)
	testenv.Must(t, err)
	return r
}

// keyString renders keys as TOKEND_SECRET_KEY would hold them.
func keyString(keys ...secret.Key) string {
	var parts []string
	for _, line := range strings.Split(string(secret.FormatKeyFile(keys)), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, ",")
}

// bootstrapWith stores a company, a Global Administrator and its token,
// sealed (retrievable) or not, under keys, the way serve does.
func bootstrapWith(t *testing.T, st *store.Store, keys *secret.Keyring, retrievable, force bool) *server.BootstrapResult {
	t.Helper()
	res, err := server.Bootstrap(context.Background(), st, server.Config{Keys: keys, SecretRetrieval: retrievable}, force)
	testenv.Must(t, err)
	return res
}

func openSQLite(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+path)
	testenv.Must(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.Migrate(context.Background())
	testenv.Must(t, err)
	return st
}

// The key file next to the SQLite database is generated only for a
// database that holds nothing; for one with tokens, a missing key file is
// an error that says how to restore it, and no key is generated.
func TestLoadKeysDefaultKeyFile(t *testing.T) {
	t.Parallel()
	t.Run("fresh database: generated, 0600", func(t *testing.T) {
		dir := t.TempDir()
		st := openSQLite(t, filepath.Join(dir, "t.db"))
		f := &dbFlags{DatabaseURL: "sqlite:" + filepath.Join(dir, "t.db")}
		keys, err := f.loadKeys(context.Background(), st, quiet)
		testenv.Must(t, err)
		fi, err := os.Stat(filepath.Join(dir, "tokend.key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("generated key file: %v, %v", fi, err)
		}
		if keys.ActiveID() != "k1" {
			t.Errorf("generated key id %q, want k1", keys.ActiveID())
		}
		// The next start reads the same key.
		again, err := f.loadKeys(context.Background(), st, quiet)
		testenv.Must(t, err)
		if !bytes.Equal(again.Digest("x"), keys.Digest("x")) {
			t.Error("second start uses another key")
		}
	})
	t.Run("database with tokens: refused", func(t *testing.T) {
		dir := t.TempDir()
		st := openSQLite(t, filepath.Join(dir, "t.db"))
		bootstrapWith(t, st, ring(t, genKey(t, "k1")), true, false)
		f := &dbFlags{DatabaseURL: "sqlite:" + filepath.Join(dir, "t.db")}
		_, err := f.loadKeys(context.Background(), st, quiet)
		keyPath := filepath.Join(dir, "tokend.key")
		if err == nil || !strings.Contains(err.Error(), keyPath+" is missing") || !strings.Contains(err.Error(), "TOKEND_SECRET_KEY") {
			t.Fatalf("loadKeys without the key file = %v; want an error naming %s and TOKEND_SECRET_KEY", err, keyPath)
		}
		if _, err := os.Stat(keyPath); !os.IsNotExist(err) {
			t.Fatalf("a key file was generated for a database full of tokens: %v", err)
		}
	})
	t.Run("explicit key file missing", func(t *testing.T) {
		dir := t.TempDir()
		st := openSQLite(t, filepath.Join(dir, "t.db"))
		f := &dbFlags{DatabaseURL: "sqlite:" + filepath.Join(dir, "t.db"), SecretKeyFile: filepath.Join(dir, "nope.key")}
		if _, err := f.loadKeys(context.Background(), st, quiet); err == nil || !strings.Contains(err.Error(), "nope.key") {
			t.Fatalf("loadKeys with a missing explicit key file = %v", err)
		}
	})
}

// The server refuses to start when stored tokens depend on a key id it
// does not have, and names the id and where to restore it.
func TestLoadKeysRefusesMissingKeyID(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		url := b.DatabaseURL(t)
		st, err := store.Open(ctx, url)
		testenv.Must(t, err)
		defer st.Close()
		_, err = st.Migrate(ctx)
		testenv.Must(t, err)
		k1, k2 := genKey(t, "k1"), genKey(t, "k2")
		bootstrapWith(t, st, ring(t, k1), true, false)
		keyFile := filepath.Join(t.TempDir(), "keys")
		testenv.Must(t, os.WriteFile(keyFile, secret.FormatKeyFile([]secret.Key{k2}), 0o600))

		tests := []struct {
			name    string
			flags   dbFlags
			wantErr []string // all of them; none: success
		}{
			{"env without the key", dbFlags{SecretKey: keyString(k2)}, []string{`key id "k1"`, "TOKEND_SECRET_KEY", "it has k2"}},
			{"file without the key", dbFlags{SecretKeyFile: keyFile}, []string{`key id "k1"`, keyFile}},
			{"another key named k1", dbFlags{SecretKey: keyString(genKey(t, "k1"))}, []string{`sealed under key "k1", does not open`, "same id", "TOKEND_SECRET_KEY"}},
			{"env with both", dbFlags{SecretKey: keyString(k1, k2)}, nil},
			{"env with the key", dbFlags{SecretKey: keyString(k1)}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.flags.DatabaseURL = url
				keys, err := tt.flags.loadKeys(ctx, st, quiet)
				if len(tt.wantErr) == 0 {
					testenv.Must(t, err)
					if keys == nil {
						t.Fatal("no keyring")
					}
					return
				}
				if err == nil {
					t.Fatal("loadKeys succeeded without the key in use")
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
			})
		}
	})
}

// Digests from before per-key digests are labelled with the first key at
// the next start, once checked: a reordered ring is refused rather than
// pinned to the wrong key.
func TestLoadKeysLabelsOldDigests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st := openSQLite(t, filepath.Join(dir, "t.db"))
	k1, k2 := genKey(t, "k1"), genKey(t, "k2")
	bootstrapWith(t, st, ring(t, k1), true, false)
	testenv.Must(t, st.DB().Exec("UPDATE tokens SET digest_key_id = NULL").Error)

	f := &dbFlags{DatabaseURL: "sqlite:" + filepath.Join(dir, "t.db"), SecretKey: keyString(k2, k1)}
	_, err := f.loadKeys(ctx, st, quiet)
	if err == nil || !strings.Contains(err.Error(), `digested under key "k1", but the first key of the ring is "k2"`) {
		t.Fatalf("loadKeys with a reordered ring = %v", err)
	}
	f.SecretKey = keyString(k1, k2)
	_, err = f.loadKeys(ctx, st, quiet)
	testenv.Must(t, err)
	var labels []*string
	testenv.Must(t, st.DB().Raw("SELECT digest_key_id FROM tokens").Scan(&labels).Error)
	if len(labels) != 1 || labels[0] == nil || *labels[0] != "k1" {
		t.Fatalf("digest labels after start = %v, want [k1]", labels)
	}
	// Now that the label is pinned, the order no longer matters.
	f.SecretKey = keyString(k2, k1)
	_, err = f.loadKeys(ctx, st, quiet)
	testenv.Must(t, err)
}

// rotate-key end to end on SQLite: sealed tokens move to the new key for
// both sealing and digest, show-once tokens and sessions are reported as
// still depending on the old key, and no byte of an old ciphertext or
// digest remains in the database files.
func TestRotateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "t.db")
	st := openSQLite(t, dbPath)
	f := dbFlags{DatabaseURL: "sqlite:" + dbPath, LogLevel: "error"}
	keys, err := f.loadKeys(ctx, st, quiet) // generates k1 next to the database
	testenv.Must(t, err)
	sealed := bootstrapWith(t, st, keys, true, false)
	showOnce := bootstrapWith(t, st, keys, false, true)
	testenv.Must(t, st.CreateSession(ctx, &store.Session{UserID: showOnce.UserID, Digest: keys.Digest("tks_session"),
		Purpose: rules.SessionFull, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	testenv.Must(t, st.DB().Exec("UPDATE sessions SET digest_key_id = 'k1'").Error)

	var before store.Token
	testenv.Must(t, st.DB().Where("secret_ciphertext IS NOT NULL").Take(&before).Error)
	testenv.Must(t, st.Compact(ctx)) // the old bytes are in the main file, not only the WAL
	if !fileHas(t, dbPath, before.SecretCiphertext) {
		t.Fatal("the ciphertext is not in the database file before rotation: the check would prove nothing")
	}

	// Step 1: a new key, values re-sealed under it; digests stay under k1,
	// since running replicas do not have k2 yet.
	testenv.Must(t, (&rotateKeyCmd{dbFlags: f, Generate: true}).Run())
	rotated := ring(t, readKeyFile(t, filepath.Join(dir, "tokend.key"))...)
	if rotated.ActiveID() != "k2" || !slices2(rotated.IDs(), "k1", "k2") {
		t.Fatalf("key file after rotation has %v", rotated.IDs())
	}
	var mid store.Token
	testenv.Must(t, st.DB().Where("id = ?", before.ID).Take(&mid).Error)
	if *mid.SecretKeyID != "k2" || *mid.DigestKeyID != "k1" || !bytes.Equal(mid.Digest, before.Digest) {
		t.Fatalf("after rotate-key: seal key %q, digest key %q; want k2, and the digest unchanged", *mid.SecretKeyID, *mid.DigestKeyID)
	}
	if fileHas(t, dbPath, before.SecretCiphertext) {
		t.Error("old ciphertext bytes remain in the SQLite files after rotate-key")
	}
	use, err := st.CountKeyUse(ctx)
	testenv.Must(t, err)
	if r := rotationReport(rotated, false, 1, 0, use); !strings.Contains(r, `digests not moved: once every replica runs with key "k2", run tokend rotate-key --no-generate`) {
		t.Errorf("report of the first step:\n%s", r)
	}

	// Step 2, once every replica has k2: digests move too.
	testenv.Must(t, (&rotateKeyCmd{dbFlags: f, Generate: false}).Run())
	var rows []store.Token
	testenv.Must(t, st.DB().Order("id").Find(&rows).Error)
	for _, tok := range rows {
		switch {
		case tok.SecretCiphertext != nil:
			if *tok.SecretKeyID != "k2" || *tok.DigestKeyID != "k2" {
				t.Errorf("sealed token under seal key %q, digest key %q after rotation", *tok.SecretKeyID, *tok.DigestKeyID)
			}
			if v, err := rotated.Open(tok.SecretCiphertext, *tok.SecretKeyID, tok.Digest); err != nil || v != sealed.Token {
				t.Errorf("sealed token does not open after rotation: %v", err)
			}
			if !secret.Equal(rotated.Digest(sealed.Token), tok.Digest) {
				t.Error("sealed token not re-digested under the active key")
			}
		default:
			if *tok.DigestKeyID != "k1" || !secret.Equal(keys.Digest(showOnce.Token), tok.Digest) {
				t.Errorf("show-once token moved to digest key %q", *tok.DigestKeyID)
			}
		}
	}
	if fileHas(t, dbPath, mid.SecretCiphertext) {
		t.Error("old ciphertext bytes remain in the SQLite files after rotate-key --no-generate")
	}
	if fileHas(t, dbPath, before.Digest) {
		t.Error("the old digest of the re-digested token remains in the SQLite files")
	}

	// The show-once token still needs k1: a ring without it is refused.
	noK1 := dbFlags{DatabaseURL: f.DatabaseURL, SecretKey: keyString(readKeyFile(t, filepath.Join(dir, "tokend.key"))[1])}
	if _, err := noK1.loadKeys(ctx, st, quiet); err == nil || !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("start without k1 while a show-once token needs it: %v", err)
	}

	use, err = st.CountKeyUse(ctx)
	testenv.Must(t, err)
	report := rotationReport(rotated, true, 1, 0, use)
	for _, want := range []string{`1 stored token values re-encrypted and re-digested under key "k2"`,
		`key "k1" is still needed: 1 tokens digested under it (1 of them show-once`} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

func TestRotationReport(t *testing.T) {
	t.Parallel()
	keys := ring(t, genKey(t, "k1"), genKey(t, "k2"), genKey(t, "k3"))
	tests := []struct {
		name string
		use  map[string]store.KeyUse
		want []string
	}{
		{"all moved", map[string]store.KeyUse{"k3": {Sealed: 5, Digests: 5}},
			[]string{`no token or webhook depends on key "k1", "k2" any more`}},
		{"sessions only", map[string]store.KeyUse{"k2": {Sessions: 4}},
			[]string{`key "k2" digests 4 sign-in sessions, which end within 12 h`, `depends on key "k1", "k2" any more`}},
		{"show-once left", map[string]store.KeyUse{"k1": {Digests: 2, Unreadable: 2}},
			[]string{`key "k1" is still needed: 2 tokens digested under it (2 of them show-once`, `depends on key "k2" any more`}},
		{"sealed left", map[string]store.KeyUse{"k2": {Sealed: 1, Digests: 1, Webhooks: 1}},
			[]string{`key "k2" is still needed`, "1 token values and 1 webhook keys sealed under it (run rotate-key again)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rotationReport(keys, true, 3, 1, tt.use)
			for _, want := range append(tt.want, `3 stored token values re-encrypted and re-digested under key "k3"`,
				`1 webhook signing keys re-encrypted`) {
				if !strings.Contains(got, want) {
					t.Errorf("report lacks %q:\n%s", want, got)
				}
			}
		})
	}
}

func readKeyFile(t *testing.T, path string) []secret.Key {
	t.Helper()
	data, err := os.ReadFile(path)
	testenv.Must(t, err)
	keys, err := secret.ParseKeyFile(data)
	testenv.Must(t, err)
	return keys
}

// fileHas reports whether the SQLite file or its WAL contains b.
func fileHas(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal"} {
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

func slices2(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}
