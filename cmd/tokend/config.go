package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// dbFlags are shared by every command that opens the database.
type dbFlags struct {
	DatabaseURL   string `name:"database-url" env:"TOKEND_DATABASE_URL" default:"sqlite:tokend.db" help:"postgres://… or postgresql://… for PostgreSQL; sqlite:PATH for the embedded SQLite file."`
	LogLevel      string `name:"log-level" env:"TOKEND_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	SecretKey     string `name:"secret-key" hidden:"" env:"TOKEND_SECRET_KEY" help:"Key material (ID:BASE64, comma separated; the last is active)."`
	SecretKeyFile string `name:"secret-key-file" env:"TOKEND_SECRET_KEY_FILE" help:"File with key material; default: generated next to the SQLite file."`
}

func (f *dbFlags) logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(f.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	// People read a terminal; machines read everything else.
	if isatty.IsTerminal(os.Stderr.Fd()) {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func (f *dbFlags) openStore(ctx context.Context) (*store.Store, error) {
	return store.Open(ctx, f.DatabaseURL)
}

// loadKeys loads the server keys and checks them against the database:
// TOKEND_SECRET_KEY, else the key file; with neither, on the embedded
// SQLite default, a key file is generated next to the database (mode 0600)
// the first time, and only while the database holds no credential: a new
// key for a database full of tokens would silently answer 401 to all of
// them. It then labels digests from before migration 00005 with the first
// key's id (every earlier tokend digested under its first key) and refuses
// to go on when tokens or webhooks depend on a key id the ring lacks, or
// when a key does not open what was sealed under its id.
func (f *dbFlags) loadKeys(ctx context.Context, st *store.Store, log *slog.Logger) (*secret.Keyring, error) {
	keys, src, err := f.readKeys(ctx, st, log)
	if err != nil {
		return nil, err
	}
	ring, err := secret.NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.name, err)
	}
	inUse, err := st.KeyIDsInUse(ctx)
	if err != nil {
		return nil, fmt.Errorf("check key ids in use: %w", err)
	}
	var missing []string
	for _, id := range inUse {
		if !ring.Has(id) {
			missing = append(missing, strconv.Quote(id))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the database holds tokens or webhooks sealed or digested under key id %s, which %s does not have "+
			"(it has %s): they would all fail. %s; keep every key in use listed, oldest first, and remove one only after "+
			"'tokend rotate-key' reports nothing left under it",
			strings.Join(missing, ", "), src.name, strings.Join(ring.IDs(), ", "), src.restore)
	}
	// The ids are there; are the keys behind them the right ones?
	samples, err := st.SealedTokenSamples(ctx)
	if err != nil {
		return nil, fmt.Errorf("check keys against stored tokens: %w", err)
	}
	for _, t := range samples {
		value, err := ring.Open(t.SecretCiphertext, *t.SecretKeyID, t.Digest)
		if err == nil && t.DigestKeyID != nil {
			if d, derr := ring.DigestWith(*t.DigestKeyID, value); derr != nil || !secret.Equal(d, t.Digest) {
				err = fmt.Errorf("its digest does not match under key %q", *t.DigestKeyID)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("token %d, sealed under key %q, does not open with the key of that id in %s: it is another key "+
				"under the same id (a regenerated key file?), and every stored token would fail. %s", t.ID, *t.SecretKeyID, src.name, src.restore)
		}
	}
	if err := adoptDigestKey(ctx, st, ring, log); err != nil {
		return nil, err
	}
	return ring, nil
}

// keySource says where keys came from, for messages.
type keySource struct {
	name    string // "TOKEND_SECRET_KEY" or "secret key file PATH"
	restore string // how to bring a lost key back
}

func (f *dbFlags) readKeys(ctx context.Context, st *store.Store, log *slog.Logger) ([]secret.Key, keySource, error) {
	if f.SecretKey != "" {
		src := keySource{name: "TOKEND_SECRET_KEY",
			restore: "Add the missing key(s) to TOKEND_SECRET_KEY as ID:BASE64, comma separated, from where you keep its value (every replica uses the same), " +
				"or point TOKEND_SECRET_KEY_FILE at the key file instead"}
		keys, err := secret.ParseKeyString(f.SecretKey)
		if err != nil {
			return nil, src, fmt.Errorf("TOKEND_SECRET_KEY: %w", err)
		}
		return keys, src, nil
	}
	path := f.SecretKeyFile
	generated := path == ""
	if generated {
		dbPath, ok := sqlitePath(f.DatabaseURL)
		if !ok {
			return nil, keySource{}, errors.New("no secret key: set TOKEND_SECRET_KEY or TOKEND_SECRET_KEY_FILE (every replica must use the same key)")
		}
		path = filepath.Join(filepath.Dir(dbPath), "tokend.key")
	}
	src := keySource{name: "secret key file " + path,
		restore: "Restore " + path + " from the backup taken with the database (or add the missing ID:BASE64 lines to it), " +
			"or set TOKEND_SECRET_KEY to the key material in use"}
	if generated {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			held, err := st.HasCredentials(ctx)
			if err != nil {
				return nil, src, fmt.Errorf("check for stored tokens: %w", err)
			}
			if held {
				return nil, src, fmt.Errorf("secret key file %s is missing, but the database already holds tokens: "+
					"a new key would make every one of them fail. %s", path, src.restore)
			}
			if err := generateKeyFile(path); err == nil {
				log.Warn("generated a new secret key; back it up with the database, tokens cannot be verified without it", "path", path)
			} else if !errors.Is(err, fs.ErrExist) {
				return nil, src, err
			}
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, src, fmt.Errorf("read secret key file: %w; %s", err, src.restore)
	}
	keys, err := secret.ParseKeyFile(data)
	if err != nil {
		return nil, src, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return keys, src, nil
}

// adoptDigestKey labels digests from before migration 00005 with the id of
// the ring's first key, after checking on one sealed token that the first
// key really made them: if the operator reordered the key file meanwhile,
// labelling would pin a wrong key.
func adoptDigestKey(ctx context.Context, st *store.Store, ring *secret.Keyring, log *slog.Logger) error {
	first := ring.IDs()[0]
	t, err := st.UnlabelledSealedToken(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("check unlabelled digests: %w", err)
	default:
		// Its seal key is in the ring (checked above).
		if value, err := ring.Open(t.SecretCiphertext, *t.SecretKeyID, t.Digest); err == nil {
			if d, _ := ring.DigestWith(first, value); !secret.Equal(d, t.Digest) {
				for _, id := range ring.IDs() {
					if d, _ := ring.DigestWith(id, value); secret.Equal(d, t.Digest) {
						return fmt.Errorf("tokens from before this version were digested under key %q, but the first key of the ring is %q: "+
							"earlier versions digested under the first key only, so put %q first once, start tokend, then order the keys as you like", id, first, id)
					}
				}
				return fmt.Errorf("token %d was digested under a key the ring does not have (the first key of an earlier version): restore it as the first key", t.ID)
			}
		}
	}
	n, err := st.AdoptDigestKey(ctx, first)
	if errors.Is(err, store.ErrReadOnly) {
		// A replica of a hot standby: the primary's replicas label the
		// rows; this one serves reads (and answers writes 503 read-only).
		log.Info("database is read-only: digests not labelled here", "key", first)
		return nil
	}
	if err != nil {
		return fmt.Errorf("label digests with key %q: %w", first, err)
	}
	if n > 0 {
		log.Info("labelled digests made before per-key digests with the first key", "key", first, "rows", n)
	}
	return nil
}

// generateKeyFile writes a new key file, failing with fs.ErrExist if one is there.
func generateKeyFile(path string) error {
	key, err := secret.GenerateKey("k1")
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(secret.FormatKeyFile([]secret.Key{key})); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func sqlitePath(databaseURL string) (string, bool) {
	if strings.HasPrefix(databaseURL, "sqlite:") {
		return strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//"), true
	}
	if !strings.Contains(databaseURL, "://") {
		return databaseURL, true
	}
	return "", false
}
