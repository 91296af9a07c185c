package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

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
	rows, next, err := s.store.ListTokens(ctx, tokenVisibility(p), f)
	if err != nil {
		return nil, err
	}
	return api.ListTokens200JSONResponse{Items: mapSlice(rows, apiToken), NextCursor: nullOf(encodeCursor(next))}, nil
}

// CreateToken creates a personal or shared token and returns its value once.
func (s *Server) CreateToken(ctx context.Context, req api.CreateTokenRequestObject) (api.CreateTokenResponseObject, error) {
	p, body, now := principalFrom(ctx), req.Body, s.now().UTC()
	permissions := perm.Normalize(body.Permissions)
	if err := s.checkGrantable(p, permissions); err != nil {
		return nil, err
	}
	expireAt, err := futureExpiry(body.ExpireAt, now)
	if err != nil {
		return nil, err
	}
	t := &store.Token{
		Realname: body.Realname, Permissions: permissions, SourceRole: perm.SourceRole(permissions),
		Enabled: body.Enabled == nil || *body.Enabled, ExpireAt: expireAt, CreatedBy: userIDPtr(p),
	}
	if !t.Enabled {
		t.DisabledAt = &now
	}
	if body.Shared != nil && *body.Shared {
		// R5: a company token, owned by nobody, capped by the creator's kind of administrator.
		if !p.Effective.Has("api_tokens:manage") {
			return nil, forbidden("shared tokens need the api_tokens:manage permission (R5)")
		}
		if body.UserId != nil {
			return nil, badRequest("a shared token has no owner: omit user_id")
		}
		t.Shared, t.CapRole = true, string(perm.RoleAdmin)
		if p.Role == perm.RolePartnerAdmin {
			t.CapRole = string(perm.RolePartnerAdmin)
		}
	} else {
		// R4: a personal token belongs to the caller, who alone learns its value.
		if p.User == nil {
			return nil, forbidden("a shared token cannot own personal tokens; set shared: true (R4)")
		}
		if body.UserId != nil && *body.UserId != p.User.ID {
			return nil, forbidden("personal tokens can only be created for yourself (R4)")
		}
		t.UserID = &p.User.ID
	}
	t.ClientID = p.Client.ID
	if body.ClientId != nil && *body.ClientId != p.Client.ID {
		c, err := s.store.GetClient(ctx, p.Scope(), *body.ClientId)
		if err != nil {
			return nil, notFoundAs(err, "client")
		}
		t.ClientID = c.ID
	}
	value, err := sealNewValue(s.keys, s.cfg.SecretRetrieval, t, secret.NewAPIToken)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		if errors.Is(err, store.ErrOwnerCannotHold) {
			return nil, forbidden("the owner's current role does not grant these permissions (R2)")
		}
		return nil, err
	}
	return api.CreateToken201JSONResponse(apiTokenWithSecret(t, value)), nil
}

// GetToken reads a visible token's metadata.
func (s *Server) GetToken(ctx context.Context, req api.GetTokenRequestObject) (api.GetTokenResponseObject, error) {
	t, err := s.store.GetToken(ctx, tokenVisibility(principalFrom(ctx)), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.GetToken200JSONResponse(apiToken(t)), nil
}

// UpdateToken changes the fields present: name, permissions (R1, R2),
// enabled (R8) and expiry (R7).
func (s *Server) UpdateToken(ctx context.Context, req api.UpdateTokenRequestObject) (api.UpdateTokenResponseObject, error) {
	p, body, now := principalFrom(ctx), req.Body, s.now().UTC()
	var permissions []string
	if body.Permissions != nil {
		permissions = perm.Normalize(*body.Permissions)
		if err := s.checkGrantable(p, permissions); err != nil {
			return nil, err
		}
	}
	t, err := s.store.UpdateToken(ctx, tokenVisibility(p), req.Id, func(t *store.Token) error {
		if body.Realname != nil {
			t.Realname = *body.Realname
		}
		if permissions != nil {
			if t.BackwardCompatible {
				return conflict("a backward-compatible token's permissions are its owner's role and cannot be edited; renew it first (R15)")
			}
			t.Permissions, t.SourceRole = permissions, perm.SourceRole(permissions)
		}
		return applyStateChange(t, body, now)
	})
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.UpdateToken200JSONResponse(apiToken(t)), nil
}

// applyStateChange applies enabled and expire_at from an update (R7, R8).
func applyStateChange(t *store.Token, body *api.UpdateTokenJSONRequestBody, now time.Time) error {
	expirySent := body.ExpireAt.IsSpecified()
	reenabling := body.Enabled != nil && *body.Enabled && !t.Enabled
	var expireAt *time.Time
	if expirySent {
		var err error
		if expireAt, err = futureExpiry(body.ExpireAt, now); err != nil {
			if reenabling {
				return errReenableExpiry
			}
			return err
		}
	}
	wasEnabled := t.Enabled
	switch {
	case body.Enabled != nil && *body.Enabled && !wasEnabled:
		// R8: re-enabling needs a new expiry in the same request.
		if !expirySent {
			return errReenableExpiry
		}
		if len(t.Permissions) == 0 && !t.BackwardCompatible {
			return badRequest("the token has no permissions left (R12); send new permissions to re-enable it")
		}
		t.Enabled, t.DisabledAt = true, nil
	case body.Enabled != nil && !*body.Enabled && wasEnabled:
		t.Enabled, t.DisabledAt = false, &now
	}
	if expirySent {
		t.ExpireAt = expireAt
	}
	return nil
}

var errReenableExpiry = badRequest("expire_at must be in the future to re-enable a token: send a future expire_at, or null for never, with enabled: true (R8)")

// DeleteToken deletes a visible token.
func (s *Server) DeleteToken(ctx context.Context, req api.DeleteTokenRequestObject) (api.DeleteTokenResponseObject, error) {
	if err := s.store.DeleteToken(ctx, tokenVisibility(principalFrom(ctx)), req.Id); err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.DeleteToken204Response{}, nil
}

// GetTokenSecret returns a token's value to whoever R9 allows.
func (s *Server) GetTokenSecret(ctx context.Context, req api.GetTokenSecretRequestObject) (api.GetTokenSecretResponseObject, error) {
	p := principalFrom(ctx)
	t, err := s.store.GetToken(ctx, tokenVisibility(p), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	if !s.cfg.SecretRetrieval {
		return nil, &Problem{Status: 404, Kind: "secret-retrieval-off",
			Detail: "this deployment runs in show-once mode (TOKEND_SECRET_RETRIEVAL=off): token values are shown only by create and renew"}
	}
	if err := mayHandleValue(p, t); err != nil {
		s.recordActivity(ctx, store.ActionTokenSecretReadDenied, t)
		return nil, err
	}
	if len(t.SecretCiphertext) == 0 || t.SecretKeyID == nil {
		return nil, &Problem{Status: 404, Kind: "secret-not-stored",
			Detail: "this token's value was issued in show-once mode and cannot be read back; renew it for a new value"}
	}
	value, err := s.keys.Open(t.SecretCiphertext, *t.SecretKeyID, t.Digest)
	if err != nil {
		return nil, err
	}
	// Recorded before answering: a value nobody can account for is worse than a failed read.
	if err := s.store.RecordActivity(ctx, tokenActivity(store.ActionTokenSecretRead, t)); err != nil {
		return nil, err
	}
	return api.GetTokenSecret200JSONResponse{Secret: value}, nil
}

// RenewToken issues a new value; the old one stops now or after the grace period (R10).
func (s *Server) RenewToken(ctx context.Context, req api.RenewTokenRequestObject) (api.RenewTokenResponseObject, error) {
	p := principalFrom(ctx)
	var grace time.Duration
	if req.Body != nil && req.Body.GracePeriodSeconds != nil {
		grace = time.Duration(*req.Body.GracePeriodSeconds) * time.Second
	}
	var value string
	t, err := s.store.RenewToken(ctx, tokenVisibility(p), req.Id, grace, func(t *store.Token) error {
		if err := mayHandleValue(p, t); err != nil {
			return err
		}
		if t.BackwardCompatible {
			// The token keeps acting with the owner's role, now stated explicitly.
			t.Permissions = []string{t.SourceRole}
		}
		var err error
		value, err = sealNewValue(s.keys, s.cfg.SecretRetrieval, t, secret.NewAPIToken)
		return err
	})
	if err != nil {
		return nil, notFoundAs(err, "token")
	}
	return api.RenewToken200JSONResponse(apiTokenWithSecret(t, value)), nil
}

// mayHandleValue is R9/R10's rule on who may learn a token's value: the
// owner of a personal token, or a manager for a shared token. Nobody else,
// administrators included.
func mayHandleValue(p *Principal, t *store.Token) error {
	if t.Shared {
		if p.Effective.Has("api_tokens:manage") {
			return nil
		}
		return forbidden("only callers with api_tokens:manage may handle a shared token's value (R9)")
	}
	if t.UserID != nil && *t.UserID == p.UserID() {
		return nil
	}
	return forbidden("only its owner may handle a personal token's value (R9)")
}

// checkGrantable applies R1 (known names) and R2 (within the caller's
// effective permissions) to a submitted permission list.
func (s *Server) checkGrantable(p *Principal, permissions []string) error {
	want, err := perm.Expand(permissions)
	if err != nil {
		var unknown *perm.UnknownError
		if errors.As(err, &unknown) {
			return &Problem{Status: 400, Kind: "unknown-permission",
				Detail: "unknown permission or role: " + strings.Join(unknown.Names, ", ") + " (R1; GET /v2/permissions lists them)"}
		}
		return err
	}
	if excess := want.Minus(p.Effective); !excess.Empty() {
		return forbidden("the token would exceed your own permissions: %s (R2)", strings.Join(excess.Strings(), ", "))
	}
	return nil
}

// futureExpiry reads an optional expiry: absent or null = never; a time
// must be in the future (R7).
func futureExpiry(v interface {
	IsSpecified() bool
	IsNull() bool
	Get() (time.Time, error)
}, now time.Time) (*time.Time, error) {
	if !v.IsSpecified() || v.IsNull() {
		return nil, nil
	}
	at, err := v.Get()
	if err != nil {
		return nil, badRequest("expire_at is not a valid time")
	}
	if !at.After(now) {
		return nil, badRequest("expire_at must be in the future (R7)")
	}
	at = at.UTC()
	return &at, nil
}

// tokenVisibility is R6 for this caller.
func tokenVisibility(p *Principal) store.TokenVisibility {
	return store.TokenVisibility{Scope: p.Scope(), AllInScope: p.Effective.Has("api_tokens:manage"), UserID: p.UserID()}
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

// recordActivity logs an event that must not fail the request it belongs to.
func (s *Server) recordActivity(ctx context.Context, action string, t *store.Token) {
	if err := s.store.RecordActivity(ctx, tokenActivity(action, t)); err != nil {
		s.log.ErrorContext(ctx, "record activity failed", "action", action, "error", err)
	}
}

func tokenActivity(action string, t *store.Token) store.Event {
	return store.Event{ClientID: t.ClientID, Action: action, TokenID: &t.ID, UserID: t.UserID}
}
