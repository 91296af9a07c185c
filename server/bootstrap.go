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
	value, err := secret.NewToken(cfg.TokenFormat)
	if err != nil {
		return nil, err
	}
	sealed, err := seal(cfg.Keys, cfg.SecretRetrieval, value)
	if err != nil {
		return nil, err
	}
	sealed.onto(token)
	if err := st.Bootstrap(ctx, client, user, token, force); err != nil {
		return nil, err
	}
	return &BootstrapResult{ClientID: client.ID, UserID: user.ID, Token: value}, nil
}

// seal keeps only what R13 allows on the row: the value's digest (lookup),
// its display hint and, unless show-once mode, its AES-GCM ciphertext bound
// to the digest.
func seal(keys *secret.Keyring, retrievable bool, value string) (sealedValue, error) {
	v := sealedValue{digest: keys.Digest(value), digestKeyID: keys.DigestID(), hint: secret.Hint(value)}
	if !retrievable {
		return v, nil
	}
	ct, keyID, err := keys.Seal(value, v.digest)
	if err != nil {
		return v, fmt.Errorf("seal token: %w", err)
	}
	v.ciphertext, v.keyID = ct, &keyID
	return v, nil
}
