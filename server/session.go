package server

import (
	"context"
	"strings"
	"time"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// sessionLifetime is how long a sign-in lasts (R19).
const sessionLifetime = 12 * time.Hour

// Login signs a user in with e-mail and password (R19). Every failure is the
// same 401, and takes as long whether or not the user exists.
func (s *Server) Login(ctx context.Context, req api.LoginRequestObject) (api.LoginResponseObject, error) {
	u, err := s.store.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(req.Body.Email)))
	var hash *string
	switch {
	case err == nil:
		hash = u.PasswordHash
	case err != store.ErrNotFound:
		return nil, err
	}
	if !passwordMatches(req.Body.Password, hash) || !u.Enabled || u.SSO {
		return nil, errUnauthorized
	}
	c, err := s.store.GetClient(ctx, store.Scope{ClientID: u.ClientID}, u.ClientID)
	if err != nil || !c.Enabled {
		return nil, errUnauthorized
	}
	value, err := secret.NewSessionToken()
	if err != nil {
		return nil, err
	}
	expires := s.now().UTC().Add(sessionLifetime)
	if _, err := s.store.CreateSession(ctx, u.ID, s.keys.Digest(value), expires); err != nil {
		return nil, err
	}
	return api.Login200JSONResponse{Token: value, ExpireAt: expires}, nil
}

// Logout ends the calling session; with an API token it does nothing.
func (s *Server) Logout(ctx context.Context, _ api.LogoutRequestObject) (api.LogoutResponseObject, error) {
	if p := principalFrom(ctx); p.SessionID != 0 {
		if err := s.store.DeleteSession(ctx, p.SessionID); err != nil {
			return nil, err
		}
	}
	return api.Logout204Response{}, nil
}

// ChangePassword sets the caller's own password, given the current one.
func (s *Server) ChangePassword(ctx context.Context, req api.ChangePasswordRequestObject) (api.ChangePasswordResponseObject, error) {
	p := principalFrom(ctx)
	if p.User == nil {
		return nil, forbidden("a shared token has no user and no password")
	}
	if p.User.SSO {
		return nil, forbidden("SSO users sign in through their identity provider and have no password (R16)")
	}
	// The principal may come from the verification cache, which keeps no
	// password hashes: compare against the stored one.
	me, err := s.store.GetUser(ctx, p.Scope(), p.User.ID)
	if err != nil {
		return nil, err
	}
	if !passwordMatches(req.Body.CurrentPassword, me.PasswordHash) {
		return nil, badRequest("current_password is wrong")
	}
	hash, err := hashPassword(req.Body.NewPassword)
	if err != nil {
		return nil, err
	}
	_, err = s.store.UpdateUser(ctx, p.Scope(), p.User.ID, func(u *store.User) error {
		u.PasswordHash = &hash
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A new password ends every other sign-in: whoever knew the old one is out.
	if err := s.store.DeleteSessionsExcept(ctx, p.User.ID, p.SessionID); err != nil {
		return nil, err
	}
	return api.ChangePassword204Response{}, nil
}
