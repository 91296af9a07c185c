package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/identity"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// Login signs a user in with e-mail and password, as rules.SignIn decides
// (R19, R22). Every failure is the same 401, and takes as long whether or
// not the user exists; guessing is bounded per account and per address,
// and an account's known addresses are not locked out by others (R23).
func (s *Server) Login(ctx context.Context, req api.LoginRequestObject) (api.LoginResponseObject, error) {
	email, err := identity.CanonicalEmail(req.Body.Email)
	if err != nil {
		email = strings.ToLower(strings.TrimSpace(req.Body.Email)) // no such account: counted, refused below
	}
	u, err := s.store.UserByEmail(ctx, email)
	var hash *string
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	addr := clientPrefix(actorIP(ctx))
	known := false
	if u != nil {
		if known, err = s.store.KnownAddress(ctx, u.ID, addr); err != nil {
			return nil, err
		}
	}
	attempt, err := s.guard.beginSignIn(ctx, "account "+email, addr, known)
	if err != nil {
		return nil, err
	}
	matches, err := s.passwordMatches(ctx, req.Body.Password, hash)
	if err != nil {
		attempt.end(false)
		return nil, err
	}
	var company *store.Client
	if u != nil && matches {
		if company, err = s.store.ClientByID(ctx, u.ClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
			attempt.end(false)
			return nil, err
		}
	}
	sess, ok := rules.SignIn(u, company, matches, s.now().UTC())
	attempt.end(!ok)
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
	s.guard.pairs.forget(attempt.pair) // one's own typos are forgiven by success
	s.rememberAddress(ctx, u.ID, addr)
	oneTime := sess.Purpose == rules.SessionPasswordChange
	return api.Login200JSONResponse{Body: api.Session{Token: value, ExpireAt: sess.ExpiresAt, PasswordChangeRequired: oneTime}}, nil
}

// rememberAddress records that the user signed in from addr (a known
// address, R23), at most hourly per pair and replica.
func (s *Server) rememberAddress(ctx context.Context, userID int64, addr string) {
	key := strconv.FormatInt(userID, 10) + " " + addr
	if at, ok := s.knownAddresses.Get(key); ok && s.now().Sub(at) < time.Hour {
		return
	}
	if err := s.store.RememberAddress(ctx, userID, addr); err != nil {
		s.log.WarnContext(ctx, "remember sign-in address", "error", err)
		return
	}
	s.knownAddresses.Add(key, s.now())
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
	// Counted atomically: an attempt in flight counts as a failure until it
	// ends, so parallel guesses cannot overshoot the account's bucket.
	key := strconv.FormatInt(p.User.ID, 10)
	if ok, wait := s.guard.passwords.begin(key); !ok {
		return nil, retryAfter(rules.TooManyWrongPasswords(), wait)
	}
	failed := true
	defer func() { s.guard.passwords.end(key, true, failed) }()
	// The principal may come from the verification cache, which keeps no
	// password hashes: compare against the stored one.
	me, err := s.store.GetUser(ctx, store.Scope{ClientID: p.User.ClientID}, p.User.ID)
	if err != nil {
		failed = false
		return nil, err
	}
	ok, err := s.passwordMatches(ctx, req.Body.CurrentPassword, me.PasswordHash)
	if err != nil {
		failed = false
		return nil, err
	}
	if !ok {
		return nil, rules.WrongPassword()
	}
	failed = false
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
	s.guard.passwords.forget(key)
	return api.ChangePassword204Response{}, nil
}
