package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// Principal is the authenticated caller of one request, put into the request
// context by the authentication middleware and read by the handlers.
type Principal struct {
	User      *store.User   // the owner; nil for a shared token
	Client    *store.Client // the company the credential belongs to
	Token     *TokenRef     // nil for a session
	SessionID int64         // 0 for an API token
	// Role is the owner's current role, or the cap role of a shared token.
	Role perm.Role
	// Effective is what this request may do (R3), computed at use from the
	// stored permissions and the owner's current role, never trusted from a copy.
	Effective perm.Set
}

// TokenRef is what a request reads about the API token it came with. It is
// a small copy, not the row: principals live in the verification cache, and
// the row's digest, ciphertext and permission list (Effective is already
// expanded) have no business there.
type TokenRef struct {
	ID        int64
	ClientID  int64
	Shared    bool
	Realname  string
	ExpireAt  *time.Time
	CreatedAt time.Time
}

// UserID is the owner's id, 0 for a shared token.
func (p *Principal) UserID() int64 {
	if p.User == nil {
		return 0
	}
	return p.User.ID
}

// Scope is what the store filters by for this caller (R18).
func (p *Principal) Scope() store.Scope {
	return store.Scope{ClientID: p.Client.ID, Global: p.Role.Global()}
}

type principalKey struct{}

// principalFrom returns the caller; handlers behind a secured route always have one.
func principalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// authenticate resolves the request's credential on secured routes and
// answers the one 401 for every failure. Public routes pass untouched.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		actor := store.Actor{IP: c.RealIP()}
		if !s.routes.secured(req.Method, c.Path()) {
			c.SetRequest(req.WithContext(store.WithActor(req.Context(), actor)))
			return next(c)
		}
		p, err := s.principalFor(req)
		if err != nil {
			return err
		}
		actor.UserID, actor.TokenID = userIDPtr(p), tokenIDPtr(p)
		if p.Token != nil {
			s.cfg.Usage.Record(p.Token.ID, actor.IP)
		}
		ctx := store.WithActor(context.WithValue(req.Context(), principalKey{}, p), actor)
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// principalFor checks the credential of r: the token header (any case), a
// bearer token, or the legacy UUID + secret pair (R15), in that order.
func (s *Server) principalFor(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	value := r.Header.Get("X-WallarmApi-Token")
	if value == "" {
		if h := r.Header.Get(echo.HeaderAuthorization); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			value = strings.TrimSpace(h[7:])
		}
	}
	if value != "" {
		return s.principalForToken(ctx, value)
	}
	uuid, sec := r.Header.Get("X-WallarmAPI-UUID"), r.Header.Get("X-WallarmAPI-Secret")
	if uuid != "" && sec != "" {
		return s.principalForLegacyPair(ctx, uuid, sec)
	}
	return nil, errUnauthorized
}

func (s *Server) principalForToken(ctx context.Context, value string) (*Principal, error) {
	// The format check rejects garbage before any database access.
	switch secret.Classify(value) {
	case secret.KindAPI, secret.KindLegacy:
		p, err := s.resolveToken(ctx, value)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, errUnauthorized
		}
		return p, nil
	case secret.KindSession:
		cred, err := s.store.SessionByDigest(ctx, s.keys.Digest(value))
		if errors.Is(err, store.ErrNotFound) {
			s.metrics.verifications.WithLabelValues(outcomeUnknown).Inc()
		}
		if err != nil {
			return nil, authLookupError(err)
		}
		return s.admit(cred)
	default:
		s.metrics.verifications.WithLabelValues(outcomeMalformed).Inc()
		return nil, errUnauthorized
	}
}

// resolveToken returns the principal an API token value admits now, or nil
// when it admits nobody. It serves from the verification cache when it can.
// An error is a database failure, never a "no".
func (s *Server) resolveToken(ctx context.Context, value string) (*Principal, error) {
	digest := s.keys.Digest(value)
	now := s.now()
	if s.cache != nil {
		if e, ok := s.cache.get(digest, now); ok {
			s.metrics.cache.WithLabelValues("hit").Inc()
			s.metrics.verifications.WithLabelValues(e.outcome).Inc()
			return e.principal, nil
		}
		s.metrics.cache.WithLabelValues("miss").Inc()
	}
	var epoch uint64
	if s.cache != nil {
		epoch = s.cache.begin()
	}
	cred, err := s.store.TokenByDigest(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		s.metrics.verifications.WithLabelValues(outcomeUnknown).Inc()
		if s.cache != nil {
			s.cache.put(digest, epoch, &cacheEntry{outcome: outcomeUnknown}, now)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, outcome := admit(cred, now)
	s.metrics.verifications.WithLabelValues(outcome).Inc()
	if s.cache != nil {
		// This request uses the cached form too, so a hit and a miss
		// cannot behave differently.
		e := &cacheEntry{outcome: outcome, tokenID: cred.Token.ID, clientID: cred.Token.ClientID}
		p = e.hold(s.cache.slim(p))
		if cred.User != nil {
			e.userID = cred.User.ID
		}
		// An admitted token is cached no longer than it lives.
		if p != nil && cred.Token.ExpireAt != nil {
			e.until = *cred.Token.ExpireAt
		}
		if cred.GraceUntil != nil && (e.until.IsZero() || cred.GraceUntil.Before(e.until)) {
			e.until = *cred.GraceUntil
		}
		s.cache.put(digest, epoch, e, now)
	}
	return p, nil
}

func (s *Server) principalForLegacyPair(ctx context.Context, uuid, sec string) (*Principal, error) {
	cred, err := s.store.TokenByLegacyUUID(ctx, strings.ToLower(uuid))
	if err != nil {
		return nil, authLookupError(err)
	}
	// Constant time: the digest compared here is a stored secret's.
	if !secret.Equal(cred.Token.Digest, s.keys.Digest(sec)) {
		return nil, errUnauthorized
	}
	// R16: an SSO user cannot authenticate with UUID + secret.
	if cred.User != nil && cred.User.SSO {
		return nil, errUnauthorized
	}
	return s.admit(cred)
}

func authLookupError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthorized
	}
	return err
}

// admit decides whether a resolved credential may act now, and with what
// effective permissions (R3, R7, R8, R11, R16, R19).
func (s *Server) admit(cred *store.Credential) (*Principal, error) {
	p, outcome := admit(cred, s.now())
	s.metrics.verifications.WithLabelValues(outcome).Inc()
	if p == nil {
		return nil, errUnauthorized
	}
	return p, nil
}

// Verification outcomes, as counted in tokend_verifications_total.
const (
	outcomeOK        = "ok"
	outcomeMalformed = "malformed"
	outcomeUnknown   = "unknown"
	outcomeDisabled  = "disabled" // the token, its owner or its company
	outcomeExpired   = "expired"
)

// admit is the pure judgement behind authentication: the principal, or nil
// and why not.
func admit(cred *store.Credential, now time.Time) (*Principal, string) {
	if cred.Client == nil || !cred.Client.Enabled {
		return nil, outcomeDisabled
	}
	if u := cred.User; u != nil && (!u.Enabled || (u.SSO && !u.APIAccess)) {
		return nil, outcomeDisabled
	}
	p := &Principal{User: cred.User, Client: cred.Client}
	if cred.Session != nil {
		if cred.User == nil || cred.User.SSO {
			return nil, outcomeDisabled
		}
		if !cred.Session.ExpiresAt.After(now) {
			return nil, outcomeExpired
		}
		p.SessionID = cred.Session.ID
		p.Role = perm.Role(cred.User.Role)
		p.Effective = p.Role.Permissions()
		return p, outcomeOK
	}
	t := cred.Token
	switch {
	case t == nil:
		return nil, outcomeUnknown
	case t.ExpireAt != nil && !t.ExpireAt.After(now):
		return nil, outcomeExpired
	case !t.Enabled:
		return nil, outcomeDisabled
	}
	p.Token = &TokenRef{ID: t.ID, ClientID: t.ClientID, Shared: t.Shared, Realname: t.Realname, ExpireAt: t.ExpireAt, CreatedAt: t.CreatedAt}
	switch {
	case t.Shared:
		p.Role = perm.Role(t.CapRole)
	case cred.User != nil:
		p.Role = perm.Role(cred.User.Role)
	default:
		return nil, outcomeUnknown
	}
	if t.BackwardCompatible {
		// R15: a backward-compatible token acts with its owner's role.
		p.Effective = p.Role.Permissions()
	} else {
		p.Effective = perm.Effective(t.Permissions, p.Role)
	}
	return p, outcomeOK
}

func tokenIDPtr(p *Principal) *int64 {
	if p.Token == nil {
		return nil
	}
	id := p.Token.ID
	return &id
}

// actorIP is the address of the request being served ("" outside one).
func actorIP(ctx context.Context) string { return store.ActorFrom(ctx).IP }
