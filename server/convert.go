package server

import (
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// Conversions from store rows to API models. Responses never carry a digest,
// a ciphertext or a password hash: those fields do not exist in the models.

func apiClient(c *store.Client) api.Company {
	return api.Company{
		Id: c.ID, Uuid: apiUUID(c.UUID), Name: c.Name, Enabled: c.Enabled,
		ParentId: nullOf(c.ParentID), RateLimit: apiRate(c.RateLimit), CreatedAt: c.CreatedAt.UTC(),
	}
}

func apiRate(r rules.RateLimit) nullable.Nullable[api.RateLimit] {
	if !r.Set() {
		return nullable.NewNullNullable[api.RateLimit]()
	}
	return nullable.NewNullableWithValue(api.RateLimit{Requests: int32(*r.Requests), WindowSeconds: int32(*r.Window)})
}

// rateOf reads an optional rate_limit: whether it was sent, and the limit
// (zero for null).
func rateOf(n nullable.Nullable[api.RateLimit]) (bool, rules.RateLimit) {
	if !n.IsSpecified() {
		return false, rules.RateLimit{}
	}
	v, err := n.Get()
	if err != nil {
		return true, rules.RateLimit{}
	}
	req, win := int(v.Requests), int(v.WindowSeconds)
	return true, rules.RateLimit{Requests: &req, Window: &win}
}

func apiUser(u *store.User) api.User {
	return api.User{
		Id: u.ID, Uuid: apiUUID(u.UUID), ClientId: u.ClientID, Email: u.Email, Realname: u.Realname,
		Role: api.Role(u.Role), Enabled: u.Enabled, Sso: u.SSO, ApiAccess: u.APIAccess,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

// apiToken is a token as the API shows it; purge_at follows the
// deployment's retention (R14).
func (s *Server) apiToken(t *store.Token) api.Token {
	m := apiToken(t)
	if !t.Enabled && t.DisabledReason != "" {
		m.DisabledReason = nullable.NewNullableWithValue(api.DisabledReason(t.DisabledReason))
	}
	if !t.Enabled && t.DisabledAt != nil {
		m.PurgeAt = nullable.NewNullableWithValue(rules.PurgeAt(*t.DisabledAt, s.cfg.DisabledRetention).UTC())
	}
	return m
}

func apiToken(t *store.Token) api.Token {
	perms := []string(t.Permissions)
	if t.BackwardCompatible || perms == nil {
		// R15: a backward-compatible token's permissions are its owner's
		// role; they are neither shown nor editable.
		perms = []string{}
	}
	return api.Token{
		Id: t.ID, ClientId: t.ClientID, UserId: nullOf(t.UserID), Shared: t.Shared, Realname: t.Realname,
		Permissions: perms, SourceRole: t.SourceRole, Enabled: t.Enabled,
		ExpireAt: nullTime(t.ExpireAt), DisabledAt: nullTime(t.DisabledAt),
		DisabledReason: nullable.NewNullNullable[api.DisabledReason](), PurgeAt: nullable.NewNullNullable[time.Time](),
		RateLimit: apiRate(t.RateLimit),
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), RenewedAt: nullTime(t.RenewedAt),
		CreatedBy: nullOf(t.CreatedBy), LastUsedAt: nullTime(t.LastUsedAt), LastUsedIp: nullOf(t.LastUsedIP),
		BackwardCompatible: t.BackwardCompatible, Hint: t.Hint,
	}
}

func (s *Server) apiTokenWithSecret(t *store.Token, value string) api.TokenWithSecret {
	m := s.apiToken(t)
	return api.TokenWithSecret{
		Id: m.Id, ClientId: m.ClientId, UserId: m.UserId, Shared: m.Shared, Realname: m.Realname,
		Permissions: m.Permissions, SourceRole: m.SourceRole, Enabled: m.Enabled, ExpireAt: m.ExpireAt,
		DisabledAt: m.DisabledAt, DisabledReason: m.DisabledReason, PurgeAt: m.PurgeAt, RateLimit: m.RateLimit, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, RenewedAt: m.RenewedAt,
		CreatedBy: m.CreatedBy, LastUsedAt: m.LastUsedAt, LastUsedIp: m.LastUsedIp,
		BackwardCompatible: m.BackwardCompatible, Hint: m.Hint, Secret: value,
	}
}

func apiNode(n *store.Node) api.Node {
	return api.Node{Id: n.ID, Uuid: apiUUID(n.UUID), ClientId: n.ClientID, Name: n.Name, CreatedAt: n.CreatedAt.UTC()}
}

func apiUUID(s string) openapi_types.UUID {
	u, _ := uuid.Parse(s)
	return openapi_types.UUID(u)
}

func nullOf[T any](p *T) nullable.Nullable[T] {
	if p == nil {
		return nullable.NewNullNullable[T]()
	}
	return nullable.NewNullableWithValue(*p)
}

func nullTime(p *time.Time) nullable.Nullable[time.Time] {
	if p == nil {
		return nullable.NewNullNullable[time.Time]()
	}
	return nullable.NewNullableWithValue(p.UTC())
}

func mapSlice[T, U any](in []T, f func(*T) U) []U {
	out := make([]U, len(in))
	for i := range in {
		out[i] = f(&in[i])
	}
	return out
}
