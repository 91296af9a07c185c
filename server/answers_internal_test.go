package server

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// The hand-written who-am-I and verify answers are what encoding/json
// makes of the generated models, byte for byte, for principals of every
// kind: personal tokens, shared tokens (no person), sessions (no token),
// any role's permissions, names that need escaping, any time zone.
func TestAnswersMatchTheModels(t *testing.T) {
	strs := rapid.OneOf(rapid.String(), rapid.SampledFrom([]string{"", "a<b>&c", "quote\"back\\slash", "\n\t\r\x00\x1f\b\f",
		"\u2028\u2029", "é🔑", "\xff\xfe invalid"}))
	when := rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64Range(0, 4_102_444_800).Draw(t, "sec"), rapid.Int64Range(0, 999_999_999).Draw(t, "nsec")).
			In(time.FixedZone("x", rapid.IntRange(-12, 12).Draw(t, "zone")*3600))
	})
	roles := perm.Roles()
	rapid.Check(t, func(t *rapid.T) {
		role := rapid.SampledFrom(roles).Draw(t, "role")
		p := &Principal{Caller: rules.Caller{Role: role, Effective: role.Permissions(),
			Client: &store.Client{ID: rapid.Int64().Draw(t, "client"), Name: strs.Draw(t, "client name")}}}
		if rapid.Bool().Draw(t, "custom set") {
			p.Effective = perm.SetOf(rapid.SliceOfN(rapid.SampledFrom(perm.Catalog()), 0, 8).Draw(t, "perms")...)
		}
		hasUser, hasToken := rapid.Bool().Draw(t, "user"), rapid.Bool().Draw(t, "token")
		if !hasUser && !hasToken {
			hasUser = true // a session
		}
		if hasUser {
			id := uuid.NewString()
			if rapid.Bool().Draw(t, "bad uuid") {
				id = strs.Draw(t, "uuid")
			}
			p.User = &store.User{ID: rapid.Int64().Draw(t, "user id"), UUID: id, Email: strs.Draw(t, "email"),
				Realname: strs.Draw(t, "realname"), Enabled: rapid.Bool().Draw(t, "enabled"), SSO: rapid.Bool().Draw(t, "sso"),
				APIAccess: rapid.Bool().Draw(t, "api"), CreatedAt: when.Draw(t, "user created")}
		}
		if hasToken {
			p.Token = &TokenRef{ID: rapid.Int64().Draw(t, "token id"), ClientID: rapid.Int64().Draw(t, "token client"),
				Shared: !hasUser, Realname: strs.Draw(t, "token name"), createdAt: when.Draw(t, "token created").UnixNano()}
			if rapid.Bool().Draw(t, "expires") {
				e := when.Draw(t, "expire")
				p.Token.ExpireAt = &e
			}
		}
		same := func(what string, got []byte, model any) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(model); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("%s, hand-written:\n%s\nencoding/json:\n%s", what, got, want.Bytes())
			}
		}
		same("GET /v2/user", p.currentUserJSON(), currentUser(p))
		same("GET /v1/user", p.wallarmUserJSON(), api.WallarmUserDetailsEnvelope{Status: wallarmOK, Body: wallarmUserDetails(p)})
		if p.Token != nil {
			model := api.VerifyResult{Active: true, TokenId: &p.Token.ID, UserId: nullOf(userIDPtr(p)), ClientId: &p.Token.ClientID,
				Shared: &p.Token.Shared, Permissions: ptrTo(p.Effective.Names()), ExpireAt: nullTime(p.Token.ExpireAt)}
			same("verify", p.verifiedJSON(nil), model)
			granted := rapid.Bool().Draw(t, "granted")
			model.PermissionGranted = &granted
			same("verify with a permission", p.verifiedJSON(&granted), model)
		}
	})
}
