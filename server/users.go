package server

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// ListUsers lists users in the caller's scope.
func (s *Server) ListUsers(ctx context.Context, req api.ListUsersRequestObject) (api.ListUsersResponseObject, error) {
	p := principalFrom(ctx)
	pg, err := page(req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	f := store.UserFilter{ClientID: req.Params.ClientId, Enabled: req.Params.Enabled, Page: pg}
	if req.Params.Role != nil {
		r := string(*req.Params.Role)
		f.Role = &r
	}
	if req.Params.Q != nil {
		f.Q = *req.Params.Q
	}
	rows, next, err := s.store.ListUsers(ctx, p.Scope(), f)
	if err != nil {
		return nil, err
	}
	return api.ListUsers200JSONResponse{Items: mapSlice(rows, apiUser), NextCursor: nullOf(encodeCursor(next))}, nil
}

// CreateUser creates a user in a company in scope with a role the caller
// could hold itself (R17).
func (s *Server) CreateUser(ctx context.Context, req api.CreateUserRequestObject) (api.CreateUserResponseObject, error) {
	p, body := principalFrom(ctx), req.Body
	if err := mayAssign(p, string(body.Role)); err != nil {
		return nil, err
	}
	clientID := p.Client.ID
	if body.ClientId != nil && *body.ClientId != clientID {
		c, err := s.store.GetClient(ctx, p.Scope(), *body.ClientId)
		if err != nil {
			return nil, notFoundAs(err, "client")
		}
		clientID = c.ID
	}
	u := &store.User{
		UUID: uuid.NewString(), ClientID: clientID, Email: strings.ToLower(string(body.Email)),
		Realname: body.Realname, Role: string(body.Role),
		Enabled: body.Enabled == nil || *body.Enabled, SSO: body.Sso != nil && *body.Sso,
		APIAccess: body.ApiAccess == nil || *body.ApiAccess,
	}
	if body.Password != nil {
		if u.SSO {
			return nil, badRequest("SSO users sign in through their identity provider and have no password (R16)")
		}
		h, err := hashPassword(*body.Password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = &h
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, conflict("a user with this e-mail already exists")
		}
		return nil, err
	}
	return api.CreateUser201JSONResponse(apiUser(u)), nil
}

// GetUser reads a user in scope.
func (s *Server) GetUser(ctx context.Context, req api.GetUserRequestObject) (api.GetUserResponseObject, error) {
	u, err := s.store.GetUser(ctx, principalFrom(ctx).Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	return api.GetUser200JSONResponse(apiUser(u)), nil
}

// UpdateUser changes the fields present; the store cascades R11, R12 and
// R16 to the user's tokens in the same transaction.
func (s *Server) UpdateUser(ctx context.Context, req api.UpdateUserRequestObject) (api.UpdateUserResponseObject, error) {
	p, body := principalFrom(ctx), req.Body
	var hash *string
	if body.Password != nil {
		h, err := hashPassword(*body.Password)
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	u, err := s.store.UpdateUser(ctx, p.Scope(), req.Id, func(u *store.User) error {
		if err := mayManage(p, u); err != nil {
			return err
		}
		if body.Role != nil && string(*body.Role) != u.Role {
			if err := mayAssign(p, string(*body.Role)); err != nil {
				return err
			}
			u.Role = string(*body.Role)
		}
		if body.Realname != nil {
			u.Realname = *body.Realname
		}
		if body.Enabled != nil {
			if !*body.Enabled && u.ID == p.UserID() {
				return badRequest("you cannot disable your own user")
			}
			u.Enabled = *body.Enabled
		}
		if body.Sso != nil {
			u.SSO = *body.Sso
		}
		if body.ApiAccess != nil {
			u.APIAccess = *body.ApiAccess
		}
		if hash != nil {
			u.PasswordHash = hash
		}
		if u.SSO && body.Password != nil {
			return badRequest("SSO users sign in through their identity provider and have no password (R16)")
		}
		if u.SSO {
			u.PasswordHash = nil
		}
		return nil
	})
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	return api.UpdateUser200JSONResponse(apiUser(u)), nil
}

// DeleteUser deletes a user in scope with its personal tokens (R11).
func (s *Server) DeleteUser(ctx context.Context, req api.DeleteUserRequestObject) (api.DeleteUserResponseObject, error) {
	p := principalFrom(ctx)
	u, err := s.store.GetUser(ctx, p.Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	if err := mayManage(p, u); err != nil {
		return nil, err
	}
	if u.ID == p.UserID() {
		return nil, badRequest("you cannot delete your own user")
	}
	if err := s.store.DeleteUser(ctx, p.Scope(), u.ID); err != nil {
		return nil, notFoundAs(err, "user")
	}
	return api.DeleteUser204Response{}, nil
}

// ImportLegacyCredentials turns a Wallarm UUID + secret pair into a
// backward-compatible token of the user (R15).
func (s *Server) ImportLegacyCredentials(ctx context.Context, req api.ImportLegacyCredentialsRequestObject) (api.ImportLegacyCredentialsResponseObject, error) {
	p, body := principalFrom(ctx), req.Body
	u, err := s.store.GetUser(ctx, p.Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	if err := mayManage(p, u); err != nil {
		return nil, err
	}
	if u.SSO {
		return nil, badRequest("SSO users cannot authenticate with UUID and secret (R16)")
	}
	if secret.Classify(body.Secret) != secret.KindLegacy {
		return nil, badRequest("secret must be a 64-character Wallarm API secret")
	}
	legacyUUID := strings.ToLower(body.Uuid.String())
	t := &store.Token{
		ClientID: u.ClientID, UserID: &u.ID, Realname: "Backward-compatible token", Permissions: []string{u.Role},
		SourceRole: u.Role, Enabled: true, CreatedBy: userIDPtr(p), BackwardCompatible: true, LegacyUUID: &legacyUUID,
	}
	if err := sealValue(s.keys, s.cfg.SecretRetrieval, t, body.Secret); err != nil {
		return nil, err
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, conflict("these legacy credentials were already imported")
		}
		return nil, err
	}
	return api.ImportLegacyCredentials201JSONResponse(apiTokenWithSecret(t, body.Secret)), nil
}

// mayAssign is R17: a caller can only hand out a role it could hold itself.
func mayAssign(p *Principal, role string) error {
	r := perm.Role(role)
	if !r.Valid() {
		return badRequest("unknown role %q", role)
	}
	if !r.Permissions().SubsetOf(p.Effective) {
		return forbidden("you cannot assign the %s role: it grants more than you hold (R17)", role)
	}
	// A global role reaches every tenant of the partner: only a global
	// caller may hand out that scope (R17, "only within its scope").
	if r.Global() && !p.Role.Global() {
		return forbidden("only a Global role can assign the %s role: its scope exceeds yours (R17)", role)
	}
	return nil
}

// mayManage extends R17 to the target: nobody manages a more powerful user.
func mayManage(p *Principal, u *store.User) error {
	if !perm.Role(u.Role).Permissions().SubsetOf(p.Effective) {
		return forbidden("this user's role grants more than you hold (R17)")
	}
	return nil
}
