package server

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/identity"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
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
	return api.ListUsers200JSONResponse{Body: api.UserList{Items: mapSlice(rows, apiUser), NextCursor: nullOf(encodeCursor(next))}}, nil
}

// CreateUser creates a user in a company in scope, as rules.NewUser decides.
func (s *Server) CreateUser(ctx context.Context, req api.CreateUserRequestObject) (api.CreateUserResponseObject, error) {
	p, body, now := principalFrom(ctx), req.Body, s.now().UTC()
	email, err := identity.CanonicalEmail(string(body.Email))
	if err != nil {
		return nil, fieldRefusal("/email", err.Error())
	}
	want := rules.NewUserRequest{
		UUID: uuid.NewString(), Email: email, EmailSkeleton: identity.Skeleton(email), Realname: body.Realname,
		Role: perm.Role(body.Role), Enabled: body.Enabled == nil || *body.Enabled, SSO: body.Sso != nil && *body.Sso,
		APIAccess: body.ApiAccess == nil || *body.ApiAccess,
	}
	if body.Password != nil && !want.SSO {
		h, err := s.hashPassword(ctx, *body.Password)
		if err != nil {
			return nil, err
		}
		want.PasswordHash = &h
	} else if body.Password != nil {
		want.PasswordHash = new(string) // refused by the rules (R16), never stored
	}
	var u *store.User
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if body.ClientId != nil && *body.ClientId != p.Client.ID {
			c, err := tx.Client(p.Scope(), *body.ClientId)
			if err != nil {
				return notFoundAs(err, "client")
			}
			want.Company = c
		}
		var events []rules.Event
		var err error
		if u, events, err = rules.NewUser(p.caller(), want, now); err != nil {
			return err
		}
		return tx.Apply(events...)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, rules.Refuse(rules.CodeEmailTaken, "a user with this e-mail address already exists")
	}
	if err != nil {
		return nil, err
	}
	return api.CreateUser201JSONResponse{Body: apiUser(u)}, nil
}

// GetUser reads a user in scope.
func (s *Server) GetUser(ctx context.Context, req api.GetUserRequestObject) (api.GetUserResponseObject, error) {
	u, err := s.store.GetUser(ctx, principalFrom(ctx).Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	return api.GetUser200JSONResponse{Body: apiUser(u)}, nil
}

// UpdateUser changes the fields present; rules.ChangeUser decides the
// change and what it means for the user's tokens and sessions, saved in
// the same transaction (R11, R12, R15, R16, R17, R21, R22).
func (s *Server) UpdateUser(ctx context.Context, req api.UpdateUserRequestObject) (api.UpdateUserResponseObject, error) {
	p, body, now := principalFrom(ctx), req.Body, s.now().UTC()
	ch := rules.UserChange{Realname: body.Realname, Enabled: body.Enabled, SSO: body.Sso, APIAccess: body.ApiAccess}
	if body.Email != nil {
		email, err := identity.CanonicalEmail(string(*body.Email))
		if err != nil {
			return nil, fieldRefusal("/email", err.Error())
		}
		ch.Email, ch.EmailSkeleton = &email, identity.Skeleton(email)
	}
	if body.Role != nil {
		r := perm.Role(*body.Role)
		ch.Role = &r
	}
	if body.Password != nil {
		h, err := s.hashPassword(ctx, *body.Password)
		if err != nil {
			return nil, err
		}
		ch.PasswordHash = &h
	}
	var u *store.User
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		target, err := tx.LockUser(p.Scope(), req.Id)
		if err != nil {
			return err
		}
		tokens, err := tx.PersonalTokens(target.ID)
		if err != nil {
			return err
		}
		out, err := rules.ChangeUser(p.caller(), *target, ch, tokens, now)
		if err != nil {
			return err
		}
		u = out.User
		return tx.Apply(out.Events...)
	})
	if errors.Is(err, store.ErrConflict) && ch.Email != nil {
		return nil, rules.Refuse(rules.CodeEmailTaken, "a user with this e-mail address already exists")
	}
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	if ch.PasswordHash != nil {
		// The sessions that guessed are gone; the new one-time password
		// starts with a clean count (R23).
		s.guard.passwords.forget(strconv.FormatInt(u.ID, 10))
	}
	return api.UpdateUser200JSONResponse{Body: apiUser(u)}, nil
}

// DeleteUser deletes a user in scope with its personal tokens (R11).
func (s *Server) DeleteUser(ctx context.Context, req api.DeleteUserRequestObject) (api.DeleteUserResponseObject, error) {
	p := principalFrom(ctx)
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		target, err := tx.LockUser(p.Scope(), req.Id)
		if err != nil {
			return err
		}
		n, err := tx.CountPersonalTokens(target.ID)
		if err != nil {
			return err
		}
		events, err := rules.MayDeleteUser(p.caller(), target, n)
		if err != nil {
			return err
		}
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	return api.DeleteUser204Response{}, nil
}

// ImportLegacyCredentials turns a Wallarm UUID + secret pair into a
// backward-compatible token of the user (R15, R22).
func (s *Server) ImportLegacyCredentials(ctx context.Context, req api.ImportLegacyCredentialsRequestObject) (api.ImportLegacyCredentialsResponseObject, error) {
	p, body, now := principalFrom(ctx), req.Body, s.now().UTC()
	if err := secret.CheckLegacySecret(body.Secret); err != nil {
		return nil, rules.Refuse(rules.CodeLegacySecretFormat, "secret: %v (R15)", err)
	}
	sealed, err := seal(s.keys, s.cfg.SecretRetrieval, body.Secret)
	if err != nil {
		return nil, err
	}
	var t *store.Token
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		target, err := tx.LockUser(p.Scope(), req.Id)
		if err != nil {
			return err
		}
		var events []rules.Event
		if t, events, err = rules.ImportLegacy(p.caller(), target, strings.ToLower(body.Uuid.String()), now); err != nil {
			return err
		}
		sealed.onto(t)
		return tx.Apply(events...)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, rules.Refuse(rules.CodeLegacyUUIDTaken, "these legacy credentials were already imported (R15)")
	}
	if err != nil {
		return nil, notFoundAs(err, "user")
	}
	return api.ImportLegacyCredentials201JSONResponse{Body: s.apiTokenWithSecret(t, body.Secret)}, nil
}
