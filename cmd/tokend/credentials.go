package main

// The configuration file that `tokend login` writes and every client
// command reads when neither a flag nor the environment names a server or
// a token.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// cliConfig is the stored state: one credential per server, one server
// current. JSON, because the standard library reads and writes it and
// people can still read it; mode 0600 because it holds credentials.
type cliConfig struct {
	// Current is the server commands use without --url or TOKEND_URL.
	Current string                  `json:"current,omitempty"`
	Servers map[string]*storedLogin `json:"servers,omitempty"`
}

// storedLogin is one server's credential.
type storedLogin struct {
	Token string `json:"token"`
	// Kind is "session" (tks_…, from e-mail and password; logout ends it on
	// the server) or "api_token" (logout only forgets it).
	Kind string `json:"kind"`
	// User is who the credential belongs to, for `tokend servers`.
	User string `json:"user,omitempty"`
	// ExpireAt is a session's end; API tokens are looked up when used.
	ExpireAt *time.Time `json:"expire_at,omitempty"`
	SavedAt  time.Time  `json:"saved_at"`
}

const (
	kindSession  = "session"
	kindAPIToken = "api_token"
)

// defaultURL is the server of a fresh `make run`.
const defaultURL = "http://127.0.0.1:8080"

// configPath is --config / TOKEND_CONFIG, else
// os.UserConfigDir()/tokend/config.json ($XDG_CONFIG_HOME or ~/.config on
// Linux, ~/Library/Application Support on macOS, %AppData% on Windows).
func configPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory for tokend login's file (%v): set TOKEND_CONFIG or pass --config", err)
	}
	return filepath.Join(dir, "tokend", "config.json"), nil
}

// loadConfig reads the file; a missing file is an empty one. A file that
// others can read is still used, with a warning: ssh would refuse it, but
// that locks people out of their servers over a chmod.
func loadConfig(path string, warn io.Writer) (*cliConfig, error) {
	f := &cliConfig{Servers: map[string]*storedLogin{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 && warn != nil {
		fmt.Fprintf(warn, "tokend: warning: %s is readable by other users (mode %o): chmod 600 %s\n", path, fi.Mode().Perm(), path)
	}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (%v): fix it, or delete it and run tokend login again", path, err)
	}
	if f.Servers == nil {
		f.Servers = map[string]*storedLogin{}
	}
	return f, nil
}

// save writes the file atomically, mode 0600, in a 0700 directory: a
// reader never sees half a file, and nobody else ever sees a token.
func (f *cliConfig) save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // after the rename, a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// serverNames lists the stored servers, sorted.
func (f *cliConfig) serverNames() []string {
	names := make([]string, 0, len(f.Servers))
	for u := range f.Servers {
		names = append(names, u)
	}
	sort.Strings(names)
	return names
}

// normalizeURL is the key of a server in the file: scheme and host in
// lower case, no trailing slash, so that http://X/ and HTTP://x are one.
func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageErrorf("%q is not an http:// or https:// URL (check --url or TOKEND_URL)", raw)
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	return u.String(), nil
}
