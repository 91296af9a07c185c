package server

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// The token handlers read like short stories: decode, load, decide (a call
// into internal/rules), apply, encode.

// ListTokens lists the tokens the caller may see (R6), newest first.
func (s *Server) ListTokens(ctx context.Context, req api.ListTokensRequestObject) (api.ListTokensResponseObject, error) {
	p := principalFrom(ctx)
	pg, err := page(req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	f := store.TokenFilter{UserID: req.Params.UserId, ClientID: req.Params.ClientId, Shared: req.Params.Shared,
		Enabled: req.Params.Enabled, Page: pg}
	if req.Params.Q != nil {
		f.Q = *req.Params.Q
	}
	rows, next, err := s.store.ListTokens(ctx, rules.TokenVisibility(p.caller()), f)
	if err != nil {
		return nil, err
	}
	return jsonOK(s.tokenPageJSON(rows, encodeCursor(next))), nil
}

// CreateToken creates a personal or shared token and returns its value once.
func (s *Server) CreateToken(ctx context.Context, req api.CreateTokenRequestObject) (api.CreateTokenResponseObject, error) {
	p, body, now := principalFrom(ctx), req.Body, s.now().UTC()
	expireAt, err := expiryOf(body.ExpireAt)
	if err != nil {
		return nil, err
	}
	want := rules.NewTokenRequest{
		Realname: body.Realname, Permissions: body.Permissions, ExpireAt: expireAt, UserID: body.UserId,
		Enabled: body.Enabled == nil || *body.Enabled, Shared: body.Shared != nil && *body.Shared,
	}
	_, want.RateLimit = rateOf(body.RateLimit)
	value, sealed, err := s.newValue()
	if err != nil {
		return nil, err
	}
	var t *store.Token
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if body.ClientId != nil && *body.ClientId != p.Client.ID {
			c, err := tx.Client(p.Scope(), *body.ClientId)
			if err != nil {
				return notFoundAs(err, "client")
			}
			want.Company = c
		}
		if p.User != nil && !want.Shared {
			owner, err := tx.LockUserByID(p.User.ID)
			if err != nil {
				return err
			}
			want.Owner = owner
		}
		var events []rules.Event
		t, events, err = rules.NewToken(p.caller(), want, now)
		if err != nil {
			return err
		}
		sealed.onto(t)
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, err
	}
	return api.CreateToken201JSONResponse{Body: s.apiTokenWithSecret(t, value)}, nil
}

// GetToken reads a visible token's metadata.
func (s *Server) GetToken(ctx context.Context, req api.GetTokenRequestObject) (api.GetTokenResponseObject, error) {
	t, err := s.store.GetToken(ctx, rules.TokenVisibility(principalFrom(ctx).caller()), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.GetToken200JSONResponse{Body: s.apiToken(t)}, nil
}

// UpdateToken changes the fields present: name, permissions, enabled and
// expiry, as rules.UpdateToken decides.
func (s *Server) UpdateToken(ctx context.Context, req api.UpdateTokenRequestObject) (api.UpdateTokenResponseObject, error) {
	p, body, now := principalFrom(ctx), req.Body, s.now().UTC()
	ch := rules.TokenChange{Realname: body.Realname, Permissions: body.Permissions, Enabled: body.Enabled,
		ExpireSet: body.ExpireAt.IsSpecified()}
	ch.RateSet, ch.RateLimit = rateOf(body.RateLimit)
	if ch.ExpireSet {
		var err error
		if ch.ExpireAt, err = expiryOf(body.ExpireAt); err != nil {
			return nil, err
		}
	}
	var t *store.Token
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		h, err := tx.LockToken(rules.TokenVisibility(p.caller()), req.Id)
		if err != nil {
			return err
		}
		var events []rules.Event
		if t, events, err = rules.UpdateToken(p.caller(), h, ch, now); err != nil {
			return err
		}
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.UpdateToken200JSONResponse{Body: s.apiToken(t)}, nil
}

// DeleteToken deletes a visible token.
func (s *Server) DeleteToken(ctx context.Context, req api.DeleteTokenRequestObject) (api.DeleteTokenResponseObject, error) {
	p := principalFrom(ctx)
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		h, err := tx.LockToken(rules.TokenVisibility(p.caller()), req.Id)
		if err != nil {
			return err
		}
		return tx.Apply(rules.Deleted(h)...)
	})
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.DeleteToken204Response{}, nil
}

// GetTokenSecret returns a token's value to whoever rules.MayReadValue
// allows (R9, R20). Every read, and every refused attempt by somebody who
// can see the token, is in the activity log before the answer.
func (s *Server) GetTokenSecret(ctx context.Context, req api.GetTokenSecretRequestObject) (api.GetTokenSecretResponseObject, error) {
	p := principalFrom(ctx)
	var value string
	var denied []rules.Event
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		h, err := tx.LockToken(rules.TokenVisibility(p.caller()), req.Id)
		if err != nil {
			return err
		}
		if err := rules.MayReadValue(p.caller(), h, s.cfg.SecretRetrieval); err != nil {
			denied = rules.ReadValueDenied(h, err)
			return err
		}
		if value, err = s.keys.Open(h.Token.SecretCiphertext, *h.Token.SecretKeyID, h.Token.Digest); err != nil {
			return err
		}
		return tx.Apply(rules.ValueRead(h)...)
	})
	if len(denied) > 0 {
		if err := s.store.Record(ctx, denied...); err != nil {
			s.log.ErrorContext(ctx, "record refused secret read", "error", err)
		}
	}
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.GetTokenSecret200JSONResponse{Body: api.TokenSecret{Secret: value}}, nil
}

// RenewToken issues a new value; the old one stops now or after the grace
// period (R10), as rules.RenewToken decides.
func (s *Server) RenewToken(ctx context.Context, req api.RenewTokenRequestObject) (api.RenewTokenResponseObject, error) {
	p, now := principalFrom(ctx), s.now().UTC()
	var grace time.Duration
	if req.Body != nil && req.Body.GracePeriodSeconds != nil {
		grace = time.Duration(*req.Body.GracePeriodSeconds) * time.Second
	}
	value, sealed, err := s.newValue()
	if err != nil {
		return nil, err
	}
	var t *store.Token
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		h, err := tx.LockToken(rules.TokenVisibility(p.caller()), req.Id)
		if err != nil {
			return err
		}
		var events []rules.Event
		if t, events, err = rules.RenewToken(p.caller(), h, grace, now); err != nil {
			return err
		}
		sealed.onto(t)
		return tx.Apply(events...)
	})
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.RenewToken200JSONResponse{Body: s.apiTokenWithSecret(t, value)}, nil
}

// expiryOf reads an optional expiry: absent or null = never.
func expiryOf(v interface {
	IsSpecified() bool
	IsNull() bool
	Get() (time.Time, error)
}) (*time.Time, error) {
	if !v.IsSpecified() || v.IsNull() {
		return nil, nil
	}
	at, err := v.Get()
	if err != nil {
		return nil, badRequest("expire_at is not a valid time")
	}
	at = at.UTC()
	return &at, nil
}

func userIDPtr(p *Principal) *int64 {
	if p.User == nil {
		return nil
	}
	id := p.User.ID
	return &id
}

// notFoundAs names the missing object in a 404 and passes other errors on.
func notFoundAs(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(what)
	}
	return err
}

// sealedValue is what R13 lets a token row keep of a value: its digest, a
// display hint and, unless show-once mode, its encryption bound to the digest.
type sealedValue struct {
	digest      []byte
	digestKeyID string
	hint        string
	ciphertext  []byte
	keyID       *string
}

func (v sealedValue) onto(t *store.Token) {
	t.Digest, t.Hint, t.SecretCiphertext, t.SecretKeyID = v.digest, v.hint, v.ciphertext, v.keyID
	id := v.digestKeyID
	t.DigestKeyID = &id
}

// newValue generates, in the deployment's format, and seals a new token value.
func (s *Server) newValue() (string, sealedValue, error) {
	value, err := secret.NewToken(s.cfg.TokenFormat)
	if err != nil {
		return "", sealedValue{}, err
	}
	sealed, err := seal(s.keys, s.cfg.SecretRetrieval, value)
	return value, sealed, err
}
