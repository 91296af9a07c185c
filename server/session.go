package server

import (
	"context"
	"errors"
	"strings"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// Login signs a user in with e-mail and password, as rules.SignIn decides
// (R19, R22). Every failure is the same 401, and takes as long whether or
// not the user exists.
func (s *Server) Login(ctx context.Context, req api.LoginRequestObject) (api.LoginResponseObject, error) {
	u, err := s.store.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(req.Body.Email)))
	var hash *string
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	matches, err := s.passwordMatches(ctx, req.Body.Password, hash)
	if err != nil {
		return nil, err
	}
	var company *store.Client
	if u != nil && matches {
		if company, err = s.store.ClientByID(ctx, u.ClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	sess, ok := rules.SignIn(u, company, matches, s.now().UTC())
	if !ok {
		return nil, errUnauthorized
	}
	value, err := secret.NewSessionToken()
	if err != nil {
		return nil, err
	}
	keyID := s.keys.DigestID()
	sess.Digest, sess.DigestKeyID = s.keys.Digest(value), &keyID
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	oneTime := sess.Purpose == rules.SessionPasswordChange
	return api.Login200JSONResponse{Token: value, ExpireAt: sess.ExpiresAt, PasswordChangeRequired: oneTime}, nil
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

// ChangePassword sets the caller's own password, given the current one
// (R19, R20, R22). Wrong current passwords count per account (R23).
func (s *Server) ChangePassword(ctx context.Context, req api.ChangePasswordRequestObject) (api.ChangePasswordResponseObject, error) {
	p, now := principalFrom(ctx), s.now().UTC()
	if err := rules.MayChangeOwnPassword(p.caller()); err != nil {
		return nil, err
	}
	// One attempt at a time per account, counted before the next starts:
	// parallel guesses cannot overshoot the limit.
	attempt, err := s.passwordGuesses.begin(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	defer attempt.end()
	// The principal may come from the verification cache, which keeps no
	// password hashes: compare against the stored one.
	me, err := s.store.GetUser(ctx, store.Scope{ClientID: p.User.ClientID}, p.User.ID)
	if err != nil {
		return nil, err
	}
	ok, err := s.passwordMatches(ctx, req.Body.CurrentPassword, me.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		attempt.failed()
		return nil, rules.WrongPassword()
	}
	hash, err := s.hashPassword(ctx, req.Body.NewPassword)
	if err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.LockUserByID(p.User.ID)
		if err != nil {
			return err
		}
		_, events := rules.ChangeOwnPassword(p.caller(), *u, hash, now)
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, err
	}
	s.passwordGuesses.forget(p.User.ID)
	return api.ChangePassword204Response{}, nil
}
