package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// Principal is the authenticated caller of one request, put into the request
// context by the authentication middleware and read by the handlers: the
// rules' Caller, plus what the HTTP layer shows of the token it came with.
type Principal struct {
	rules.Caller
	Token *TokenRef // nil for a session
}

// TokenRef is what a request reads about the API token it came with. It is
// a small copy, not the row: principals live in the verification cache, and
// the row's digest, ciphertext and permission list (Effective is already
// expanded) have no business there.
type TokenRef struct {
	ID       int64
	ClientID int64
	Realname string
	ExpireAt *time.Time
	// createdAt is CreatedAt in Unix nanoseconds: 8 bytes, not a
	// time.Time's 24, in every cached principal.
	createdAt int64
	// Rate is the token's rate limit: its own, else its company's default
	// (zero: none).
	Rate   rateLimit
	Shared bool
}

// CreatedAt is when the token was created, in UTC.
func (t *TokenRef) CreatedAt() time.Time { return time.Unix(0, t.createdAt).UTC() }

// caller is the principal as the rules take it.
func (p *Principal) caller() *rules.Caller { return &p.Caller }

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
			if err := s.rates.admit(c, p.Token); err != nil {
				return err
			}
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
	kind := secret.Classify(value)
	if kind == secret.KindLegacy && secret.CheckLegacySecret(value) != nil {
		kind = secret.KindInvalid // no import accepts it, so no token has it
	}
	switch kind {
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
		cred, err := s.store.SessionByDigest(ctx, s.keys.LookupDigests(value)...)
		if errors.Is(err, store.ErrNotFound) {
			s.metrics.verifications.WithLabelValues(outcomeLabel(rules.Unknown)).Inc()
		}
		if err != nil {
			return nil, authLookupError(err)
		}
		return s.admit(cred)
	default:
		s.metrics.verifications.WithLabelValues(outcomeLabel(rules.Malformed)).Inc()
		return nil, errUnauthorized
	}
}

// resolveToken returns the principal an API token value admits now, or nil
// when it admits nobody. It serves from the verification cache when it can.
// An error is a database failure, never a "no".
func (s *Server) resolveToken(ctx context.Context, value string) (*Principal, error) {
	// The value's digest under every key (the active one first, the cache
	// key): a token digested under an older key is still found (R13).
	digests := s.keys.LookupDigests(value)
	digest := digests[0]
	now := s.now()
	if s.cache != nil {
		// R24: a cached answer only while the feed proved this replica
		// current within the stale bound; else the database decides.
		if s.feed != nil && !s.feed.Current() {
			s.metrics.cache.WithLabelValues("stale").Inc()
		} else if e, ok := s.cache.get(digest, now); ok {
			s.metrics.cache.WithLabelValues("hit").Inc()
			s.metrics.verifications.WithLabelValues(outcomeLabel(e.outcome.Outcome())).Inc()
			return e.principal(), nil
		} else {
			s.metrics.cache.WithLabelValues("miss").Inc()
		}
	}
	var epoch uint64
	if s.cache != nil {
		epoch = s.cache.begin()
	}
	cred, err := s.store.TokenByDigest(ctx, digests...)
	if errors.Is(err, store.ErrNotFound) {
		s.metrics.verifications.WithLabelValues(outcomeLabel(rules.Unknown)).Inc()
		if s.cache != nil {
			s.cache.put(digest, epoch, &cacheEntry{outcome: codeOf(rules.Unknown)}, time.Time{}, now)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, outcome := admit(cred, now)
	s.metrics.verifications.WithLabelValues(outcomeLabel(outcome)).Inc()
	if s.cache != nil {
		// This request uses the cached form too, so a hit and a miss
		// cannot behave differently.
		var userID int64
		if cred.User != nil {
			userID = cred.User.ID
		}
		e := &cacheEntry{outcome: codeOf(outcome), slots: slotsOf(cred.Token.ID, userID, cred.Token.ClientID)}
		p = e.hold(s.cache.slim(p))
		// An admitted token is cached no longer than it lives.
		var until time.Time
		if p != nil && cred.Token.ExpireAt != nil {
			until = *cred.Token.ExpireAt
		}
		if cred.GraceUntil != nil && (until.IsZero() || cred.GraceUntil.Before(until)) {
			until = *cred.GraceUntil
		}
		s.cache.put(digest, epoch, e, until, now)
	}
	return p, nil
}

func (s *Server) principalForLegacyPair(ctx context.Context, uuid, sec string) (*Principal, error) {
	creds, err := s.store.TokensByLegacyUUID(ctx, strings.ToLower(uuid))
	if err != nil {
		return nil, authLookupError(err)
	}
	// Each company may have imported this UUID; the secret decides which,
	// compared under the key that digested each one, in constant time.
	var match *store.Credential
	for _, cred := range creds {
		keyID := s.keys.IDs()[0]
		if cred.Token.DigestKeyID != nil {
			keyID = *cred.Token.DigestKeyID
		}
		if d, err := s.keys.DigestWith(keyID, sec); err == nil && secret.Equal(cred.Token.Digest, d) {
			match = cred
		}
	}
	if match == nil {
		s.metrics.verifications.WithLabelValues(outcomeLabel(rules.Unknown)).Inc()
		return nil, errUnauthorized
	}
	// R16: an SSO user cannot authenticate with UUID + secret.
	if match.User != nil && match.User.SSO {
		return nil, errUnauthorized
	}
	return s.admit(match)
}

func authLookupError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthorized
	}
	return err
}

// admit judges a resolved credential (rules.Admit) and answers the one
// 401 for every "no".
func (s *Server) admit(cred *store.Credential) (*Principal, error) {
	p, outcome := admit(cred, s.now())
	s.metrics.verifications.WithLabelValues(outcomeLabel(outcome)).Inc()
	if p == nil {
		return nil, errUnauthorized
	}
	return p, nil
}

// admit is rules.Admit, with the token as the HTTP layer shows it.
func admit(cred *store.Credential, now time.Time) (*Principal, rules.Outcome) {
	c, outcome := rules.Admit(cred, now)
	if c == nil {
		return nil, outcome
	}
	p := &Principal{Caller: *c}
	if t := cred.Token; t != nil {
		p.Token = &TokenRef{ID: t.ID, ClientID: t.ClientID, Shared: t.Shared, Realname: t.Realname, ExpireAt: t.ExpireAt, createdAt: t.CreatedAt.UnixNano(),
			Rate: effectiveRate(t.RateLimit, cred.Client)}
	}
	return p, outcome
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
