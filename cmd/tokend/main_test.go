package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// The binary's own contract: `bootstrap -o json` prints exactly one JSON
// object and nothing else on standard output; on a bootstrapped database it
// does nothing, exits 0 and says so on standard error.
func TestBootstrapJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tokend")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := func(args ...string) (stdout, stderr string, err error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TOKEND_DATABASE_URL=sqlite:"+filepath.Join(dir, "t.db"))
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}

	stdout, stderr, err := run("bootstrap", "-o", "json")
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	var res struct {
		ClientID int64  `json:"client_id"`
		UserID   int64  `json:"user_id"`
		Token    string `json:"token"`
	}
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if dec.More() || res.ClientID == 0 || res.UserID == 0 || !strings.HasPrefix(res.Token, "tkd_") {
		t.Fatalf("unexpected output %q", stdout)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tokend.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file: %v %v", fi, err)
	}

	stdout, stderr, err = run("bootstrap", "-o", "json")
	if err != nil || stdout != "" || !strings.Contains(stderr, "already has users") {
		t.Fatalf("second bootstrap: err %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	for _, cmd := range []string{"migrate", "purge"} {
		if _, stderr, err := run(cmd); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, stderr)
		}
	}
	if out, _, err := run("version"); err != nil || !strings.HasPrefix(out, "tokend ") {
		t.Fatalf("version: %q %v", out, err)
	}

	// rotate-key adds k2 to the key file and re-seals the bootstrap token's
	// value under it; the value still opens, with k2. Digests move with
	// --no-generate, once every replica has k2 (R13).
	_, stderr, err = run("rotate-key")
	if err != nil || !strings.Contains(stderr, `1 stored token values re-encrypted under key "k2"; digests not moved`) {
		t.Fatalf("rotate-key: %v\n%s", err, stderr)
	}
	_, stderr, err = run("rotate-key", "--no-generate")
	if err != nil || !strings.Contains(stderr, `1 stored token values re-encrypted and re-digested under key "k2"`) {
		t.Fatalf("rotate-key --no-generate: %v\n%s", err, stderr)
	}
	keyFile, err := os.ReadFile(filepath.Join(dir, "tokend.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.ParseKeyFile(keyFile)
	if err != nil || len(keys) != 2 || keys[1].ID != "k2" {
		t.Fatalf("key file after rotation: %v %v", keys, err)
	}
	ring, err := secret.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var tok store.Token
	if err := st.DB().First(&tok).Error; err != nil {
		t.Fatal(err)
	}
	if *tok.SecretKeyID != "k2" {
		t.Fatalf("token sealed under %q after rotation", *tok.SecretKeyID)
	}
	if v, err := ring.Open(tok.SecretCiphertext, *tok.SecretKeyID, tok.Digest); err != nil || v != res.Token {
		t.Fatalf("value after rotation: %v", err)
	}
	// The digest moved to k2 too (R13): k1 is no longer needed.
	if !secret.Equal(ring.Digest(res.Token), tok.Digest) || tok.DigestKeyID == nil || *tok.DigestKeyID != "k2" {
		t.Fatal("digest not moved to the new key by rotation")
	}
	if !strings.Contains(stderr, `no token or webhook depends on key "k1" any more`) {
		t.Fatalf("rotate-key does not report k1 as retirable:\n%s", stderr)
	}
}
