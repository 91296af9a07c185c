package server

import (
	"strings"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// The Wallarm surface (docs/WALLARM.md): the routes Wallarm's Go SDK and
// Terraform provider call, as thin adapters over the same rules and store
// as tokend's own API. This file holds what they share: Wallarm's
// envelope status, its field names, and its pagination.

// wallarmOK is the status inside every successful envelope.
const wallarmOK = api.WallarmStatus(200)

// wallarmUserDetails is the caller in /v1/user's shape.
func wallarmUserDetails(p *Principal) api.WallarmUserDetails {
	me := currentUser(p)
	return api.WallarmUserDetails{
		Id: me.Id, Uuid: me.Uuid, ClientId: me.ClientId, Clientid: me.ClientId, Email: me.Email, Username: me.Email,
		Realname: me.Realname, Permissions: api.WallarmRoles{me.Role}, ActualPermissions: me.Permissions,
		Enabled: me.Enabled, CreateAt: me.CreatedAt.UTC(), Phone: nullable.NewNullNullable[string](),
		Validated: true, Sso: me.Sso, ApiAccess: me.ApiAccess,
	}
}

// wallarmUser is a user in Wallarm's shape: username is the e-mail,
// permissions the one role, create_at Unix seconds.
func wallarmUser(u *store.User) api.WallarmUser {
	return api.WallarmUser{
		Id: u.ID, Uuid: apiUUID(u.UUID), Clientid: u.ClientID, Email: u.Email, Username: u.Email, Realname: u.Realname,
		Permissions: api.WallarmRoles{api.Role(u.Role)}, ActualPermissions: perm.Role(u.Role).Permissions().Strings(),
		Enabled: u.Enabled, CreateAt: u.CreatedAt.Unix(), Phone: nullable.NewNullNullable[string](),
		Validated: true, Sso: u.SSO, ApiAccess: u.APIAccess,
	}
}

// wallarmClient is a company in Wallarm's shape; parent is its parent row
// (nil for a top-level company), whose id and UUID Wallarm calls the
// partner's (rules.PartnerOf).
func wallarmClient(c *store.Client, parent *store.Client) api.WallarmClient {
	partnerID, partnerUUID := rules.PartnerOf(c, parent)
	return api.WallarmClient{
		Id: c.ID, Uuid: apiUUID(c.UUID), Name: c.Name, Enabled: c.Enabled, CreateAt: c.CreatedAt.Unix(),
		Partnerid: partnerID, PartnerUuid: apiUUID(partnerUUID), Validated: true, Components: []string{},
	}
}

// wallarmNode is a node in Wallarm's shape, with its token's value (""
// when the caller may not read it, or it has none).
func wallarmNode(n *store.Node, token string) api.WallarmNode {
	return api.WallarmNode{
		Id: n.ID, Uuid: apiUUID(n.UUID), Hostname: n.Name, Type: api.WallarmNodeType(n.Type), Clientid: n.ClientID,
		Enabled: true, Token: token, Ip: nullable.NewNullNullable[string](), CreateTime: n.CreatedAt.Unix(),
		CreateFrom: "api", LastActivity: nullable.NewNullNullable[int64](),
	}
}

// wallarmNodeSummary is a node in /v1/objects/node's shape, where id is
// the UUID.
func wallarmNodeSummary(n *store.Node) api.WallarmNodeSummary {
	return api.WallarmNodeSummary{
		Id: openapi_types.UUID(uuid.MustParse(n.UUID)), Type: api.WallarmNodeType(n.Type), Hostname: n.Name,
		Clientid: n.ClientID, Enabled: true, CreateTime: n.CreatedAt.Unix(),
	}
}

// offsetOf reads Wallarm's limit and offset (0 or absent limit: the
// default page).
func offsetOf(limit, offset *int32) (int, int) {
	l, o := 0, 0
	if limit != nil {
		l = int(*limit)
	}
	if offset != nil {
		o = int(*offset)
	}
	return l, o
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// canonical is how tokend stores e-mail addresses and UUIDs: lower-case.
func canonical(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
