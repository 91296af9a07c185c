package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// BootstrapResult is what `tokend bootstrap` prints.
type BootstrapResult struct {
	ClientID int64  `json:"client_id"`
	UserID   int64  `json:"user_id"`
	Token    string `json:"token"`
}

// Bootstrap gives an empty database one company and one Global
// Administrator with an API token, so a new installation can be used at
// once. On a database with users it returns store.ErrAlreadyBootstrapped,
// unless force, which adds another Global Administrator.
func Bootstrap(ctx context.Context, st *store.Store, cfg Config, force bool) (*BootstrapResult, error) {
	now := time.Now().UTC()
	if cfg.Now != nil {
		now = cfg.Now().UTC()
	}
	client := &store.Client{UUID: uuid.NewString(), Name: "Default company", Enabled: true, CreatedAt: now, UpdatedAt: now}
	userUUID := uuid.NewString()
	user := &store.User{
		UUID: userUUID, Email: "admin-" + strings.SplitN(userUUID, "-", 2)[0] + "@tokend.local",
		Realname: "Global Administrator", Role: string(perm.RolePartnerAdmin),
		Enabled: true, APIAccess: true, CreatedAt: now, UpdatedAt: now,
	}
	permissions := []string{string(perm.RolePartnerAdmin)}
	token := &store.Token{
		Shared: false, Realname: "Bootstrap token", Permissions: permissions,
		SourceRole: perm.SourceRole(permissions), Enabled: true, CreatedAt: now, UpdatedAt: now,
	}
	value, err := sealNewValue(cfg.Keys, cfg.SecretRetrieval, token, secret.NewAPIToken)
	if err != nil {
		return nil, err
	}
	if err := st.Bootstrap(ctx, client, user, token, force); err != nil {
		return nil, err
	}
	return &BootstrapResult{ClientID: client.ID, UserID: user.ID, Token: value}, nil
}

// sealNewValue generates a token value and keeps only what R13 allows on
// the row: its digest (lookup), its display hint and, unless show-once mode,
// its AES-GCM ciphertext bound to the digest.
func sealNewValue(keys *secret.Keyring, retrievable bool, t *store.Token, generate func() (string, error)) (string, error) {
	value, err := generate()
	if err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return value, sealValue(keys, retrievable, t, value)
}

func sealValue(keys *secret.Keyring, retrievable bool, t *store.Token, value string) error {
	t.Digest = keys.Digest(value)
	t.Hint = secret.Hint(value)
	t.SecretCiphertext, t.SecretKeyID = nil, nil
	if !retrievable {
		return nil
	}
	ct, keyID, err := keys.Seal(value, t.Digest)
	if err != nil {
		return fmt.Errorf("seal token: %w", err)
	}
	t.SecretCiphertext, t.SecretKeyID = ct, &keyID
	return nil
}
