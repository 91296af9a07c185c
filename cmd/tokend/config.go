package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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

// keyring loads the server key: TOKEND_SECRET_KEY, else the key file; with
// neither, on the embedded SQLite default, a key file is generated next to
// the database (mode 0600) the first time.
func (f *dbFlags) keyring(log *slog.Logger) (*secret.Keyring, error) {
	if f.SecretKey != "" {
		keys, err := secret.ParseKeyString(f.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("TOKEND_SECRET_KEY: %w", err)
		}
		return secret.NewKeyring(keys...)
	}
	path := f.SecretKeyFile
	if path == "" {
		dbPath, ok := sqlitePath(f.DatabaseURL)
		if !ok {
			return nil, errors.New("no secret key: set TOKEND_SECRET_KEY or TOKEND_SECRET_KEY_FILE (every replica must use the same key)")
		}
		path = filepath.Join(filepath.Dir(dbPath), "tokend.key")
		if err := generateKeyFile(path); err == nil {
			log.Warn("generated a new secret key; back it up with the database, tokens cannot be verified without it", "path", path)
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	keys, err := secret.ParseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return secret.NewKeyring(keys...)
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
