package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/identity"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// BootstrapResult is what `tokend bootstrap` prints.
type BootstrapResult struct {
	ClientID int64      `json:"client_id"`
	UserID   int64      `json:"user_id"`
	Token    string     `json:"token"`
	ExpireAt *time.Time `json:"-"` // not in -o json: DESIGN fixes its three fields
}

// BootstrapOptions shape the first Global Administrator.
type BootstrapOptions struct {
	// Force adds another Global Administrator to a database with users.
	Force bool
	// Expires bounds the first token's life (0: never). The first token
	// is the keys to the installation: serve gives it 24 hours, so that
	// one that leaks (a log, a backup of the token file) dies soon; its
	// holder creates a lasting credential of its own in the meantime.
	Expires time.Duration
	// Email is the administrator's address ("" = a generated one).
	Email string
}

// Bootstrap gives an empty database one company and one Global
// Administrator with a never-expiring API token (tests and tools); serve
// and `tokend bootstrap` use BootstrapWith. On a database with users it
// returns store.ErrAlreadyBootstrapped, unless force, which adds another
// Global Administrator.
func Bootstrap(ctx context.Context, st *store.Store, cfg Config, force bool) (*BootstrapResult, error) {
	return BootstrapWith(ctx, st, cfg, BootstrapOptions{Force: force})
}

// BootstrapWith is Bootstrap with options.
func BootstrapWith(ctx context.Context, st *store.Store, cfg Config, o BootstrapOptions) (*BootstrapResult, error) {
	force := o.Force
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
	if o.Email != "" {
		email, err := identity.CanonicalEmail(o.Email)
		if err != nil {
			return nil, fmt.Errorf("bootstrap e-mail: %w", err)
		}
		user.Email = email
	}
	permissions := []string{string(perm.RolePartnerAdmin)}
	token := &store.Token{
		Shared: false, Realname: "Bootstrap token", Permissions: permissions,
		SourceRole: perm.SourceRole(permissions), Enabled: true, CreatedAt: now, UpdatedAt: now,
	}
	if o.Expires > 0 {
		at := now.Add(o.Expires)
		token.ExpireAt = &at
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
	return &BootstrapResult{ClientID: client.ID, UserID: user.ID, Token: value, ExpireAt: token.ExpireAt}, nil
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
