// Package server is tokend's HTTP layer: the echo router, request
// validation from the embedded spec, authentication, the one place where
// errors become problem+json, and the strict handlers, one file per resource.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/notify"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/server/console"
	"github.com/tokend/tokend/server/swaggerui"
	"github.com/tokend/tokend/store"
)

// Config is everything the HTTP layer needs besides the store.
type Config struct {
	// Keys digest and encrypt token values (R13). Required.
	Keys *secret.Keyring
	// TokenFormat is how new and renewed values look (TOKEND_TOKEN_FORMAT):
	// tkd_… by default, or Wallarm's 64 characters. Both authenticate
	// whatever the setting.
	TokenFormat secret.Format
	// SecretRetrieval keeps an encrypted copy of each token value so that
	// GET /v2/api_tokens/{id}/secret can return it (R9); off = show-once mode.
	SecretRetrieval bool
	// Logger receives request logs and internal errors; nil discards them.
	Logger *slog.Logger
	// AccessLog is which requests get a log line (TOKEND_ACCESS_LOG):
	// errors (the default: 5xx, and 4xx at a bounded rate), all, or off.
	AccessLog AccessLog
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// BodyLimit caps request bodies; 0 means 1 MiB.
	BodyLimit string
	// AuthFailureLimit is how many failed authentications one client
	// address (an IPv6 /64) may make per AuthFailureWindow (default 30 per
	// 5 min); past it its failures answer 429, and its sign-ins to
	// accounts that never signed in from it are refused. A valid API token
	// is never refused for it (R23).
	AuthFailureLimit  int
	AuthFailureWindow time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed (R23);
	// none by default: the client address is the connection's.
	TrustedProxies []netip.Prefix
	// Usage records last-used times off the hot path; nil makes one whose
	// Flush nobody calls (the caller runs Usage.Run in production).
	Usage *UsageRecorder
	// RequestTimeout bounds each request's work, database included: a
	// database that hangs yields 503, not a hung client (default 10 s).
	RequestTimeout time.Duration
	// Metrics is where tokend registers its Prometheus series; nil makes a
	// registry of its own (with the Go runtime's). They are not served on
	// the API listener (strangers must not read them): serve them with
	// MetricsHandler on a listener of their own (TOKEND_METRICS_LISTEN).
	Metrics *prometheus.Registry
	// CacheSize bounds the verification cache in entries; 0 means 100,000,
	// negative disables the cache. CacheTTL bounds how long an entry lives
	// at all (default 1 min); revocation between replicas does not rest on
	// it but on the change feed and StaleBound.
	CacheSize int
	CacheTTL  time.Duration
	// StaleBound is R24's bound: a cached acceptance is served only while
	// the change feed proved this replica current within it (default 1 s).
	StaleBound time.Duration
	// ListenDatabaseURL is the direct connection the change feed LISTENs
	// on ("" = the database URL), for when a transaction-pooling PgBouncer
	// is in the way.
	ListenDatabaseURL string
	// Context, when set, runs the server's background work until it ends:
	// the change feed that keeps the verification cache current with other
	// replicas and processes (R24). Without it the cache trusts only this
	// process's own changes — right for a single process and nothing else.
	Context context.Context
	// DisabledRetention is how long disabled tokens are kept before the
	// purge (R14), shown as each disabled token's purge_at (default 168 h).
	DisabledRetention time.Duration
	// PasswordParams are the argon2id costs of new password hashes; nil
	// means PasswordParams (OWASP's minimum). Tests lower them.
	PasswordParams *argon2id.Params
	// LeakReportLimit is how many leak reports one address may send per
	// minute (default 10).
	LeakReportLimit int
	// WebhookPolicy is where webhook URLs may point, checked when one is
	// registered or changed (the dispatcher's client checks it again on
	// every connection). The zero value allows public destinations only.
	WebhookPolicy notify.Policy
}

// Server holds the dependencies of the handlers.
type Server struct {
	cfg    Config
	store  *store.Store
	keys   *secret.Keyring
	log    *slog.Logger
	now    func() time.Time
	routes *routeTable

	cache   *verifyCache
	metrics *metrics
	guard   guard
	rates   *rateLimiters
	// feed follows the change log; nil without Config.Context.
	feed *store.Feed
	// hashers bounds concurrent password hashing (R23).
	hashers   hashers
	passwords passwords
	// knownAddresses remembers which (account, address) pairs this replica
	// recorded lately, so that a sign-in writes its pair at most hourly.
	knownAddresses *lru.Cache[string, time.Time]
}

// Compile-time proof that Server implements every operation of the spec.
var _ api.StrictServerInterface = (*Server)(nil)

// New builds the whole HTTP service: the one factory used by cmd/tokend and
// by the tests, so both run exactly the same stack.
func New(cfg Config, st *store.Store) (*echo.Echo, error) {
	if cfg.Keys == nil {
		return nil, errors.New("server: Config.Keys is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessLog == "" {
		cfg.AccessLog = AccessLogErrors
	}
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "1MiB" // 1,048,576 bytes; "1M" would be 1,000,000
	}
	if cfg.AuthFailureLimit <= 0 {
		cfg.AuthFailureLimit = 30
	}
	if cfg.AuthFailureWindow <= 0 {
		cfg.AuthFailureWindow = 5 * time.Minute
	}
	if cfg.Usage == nil {
		cfg.Usage = NewUsageRecorder(st, cfg.Now)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
		cfg.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 100_000
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = time.Minute
	}
	if cfg.DisabledRetention <= 0 {
		cfg.DisabledRetention = 7 * 24 * time.Hour
	}
	if cfg.LeakReportLimit <= 0 {
		cfg.LeakReportLimit = 10
	}
	spec, validated, specJSON, err := embeddedSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	routes, err := newRouteTable(spec)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, keys: cfg.Keys, log: cfg.Logger, now: cfg.Now, routes: routes,
		cache:   newVerifyCache(cfg.CacheSize, cfg.CacheTTL),
		hashers: newHashers(),
		guard: guard{
			addresses: newFailureBudget(cfg.AuthFailureLimit, cfg.AuthFailureWindow, cfg.Now),
			accounts:  newFailureBudget(signInAccountLimit, signInWindow, cfg.Now),
			pairs:     newFailureBudget(signInPairLimit, signInWindow, cfg.Now),
			passwords: newFailureBudget(rules.WrongPasswordLimit, rules.WrongPasswordWindow, cfg.Now),
			leaks:     newFailureBudget(cfg.LeakReportLimit, time.Minute, cfg.Now),
		},
	}
	s.knownAddresses, _ = lru.New[string, time.Time](100_000)
	s.rates = newRateLimiters(cfg.Now)
	if s.passwords, err = newPasswords(cfg.PasswordParams); err != nil {
		return nil, err
	}
	sqlDB, _ := st.DB().DB()
	s.metrics = newMetrics(cfg.Metrics, sqlDB)
	if s.cache != nil {
		// This replica's own changes invalidate before the mutating request
		// answers; other replicas' and processes' arrive through the feed.
		st.OnChange(s.cache.invalidate)
		if cfg.Context != nil {
			s.feed = st.NewFeed(store.FeedConfig{StaleBound: cfg.StaleBound, ListenURL: cfg.ListenDatabaseURL, Logger: s.log}, s.cache.invalidate)
			go s.feed.Run(cfg.Context)
		}
	}
	s.metrics.feed(cfg.Metrics, s.feed)
	s.metrics.lookups(cfg.Metrics, st)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(s.log, s.now, s.routes.errorFormat)
	// The peer address; X-Forwarded-For only from a configured trusted
	// proxy (R23): the activity log and the guard must not be fooled by a
	// header anybody can send.
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.Use(middleware.RequestID())
	e.Use(s.securityHeaders)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableErrorHandler: false, LogErrorFunc: s.logPanic}))
	e.Use(s.accessLogger(cfg.AccessLog))
	e.Use(s.observe)
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	e.Use(refuseNUL)
	e.Use(deadline(cfg.RequestTimeout))
	e.Use(s.countAuthFailures)
	e.Use(s.limitLeakReports)
	e.Use(s.authenticate)
	e.Use(s.refuseUnknownQuery)
	e.Use(oapimiddleware.OapiRequestValidatorWithOptions(validated, &oapimiddleware.Options{
		Skipper: func(c echo.Context) bool { return !s.routes.needsValidation(c) },
		Options: openapi3filter.Options{
			MultiError: true,
			// The body is parsed once: the strict handlers bind the value
			// the validator decoded (and validated) instead of decoding the
			// JSON again; without defaults filled in, so that a handler still
			// tells an absent member from one sent.
			KeepValidatedValue:  true,
			SkipSettingDefaults: true,
		},
		MultiErrorHandler: func(me openapi3.MultiError) *echo.HTTPError {
			p := fromValidation(me)
			return &echo.HTTPError{Code: p.Status, Message: p.Detail, Internal: p}
		},
		SilenceServersWarning: true,
	}))

	api.RegisterHandlers(e, api.NewStrictHandler(s, []api.StrictMiddlewareFunc{s.authorize}))

	serveSpec := func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, specJSON) }
	e.GET("/api/v1/api-docs", serveSpec)
	e.GET("/api-docs/openapi.json", serveSpec)
	getOrHead := []string{http.MethodGet, http.MethodHead}
	ui := assets(console.Handler("/console"))
	e.Match(getOrHead, "/console", ui)
	e.Match(getOrHead, "/console/*", ui)
	docs := assets(swaggerui.Handler("/api-docs", "/api/v1/api-docs"))
	e.Match(getOrHead, "/api-docs", docs)
	e.Match(getOrHead, "/api-docs/*", docs)
	return e, nil
}

// Sign-in budgets (R23): wrong passwords per account from addresses it
// never signed in from, and per (account, address), per signInWindow.
const (
	signInAccountLimit = 10
	signInPairLimit    = 10
	signInWindow       = 15 * time.Minute
)

// ipExtractor reads the client address from the connection, or from
// X-Forwarded-For when the peer is one of the trusted proxies.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		_, ipnet, err := net.ParseCIDR(p.String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(ipnet))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// embeddedSpec is the contract, parsed once per process: every server
// reads it and none changes it. validated is a second copy for the request
// validator, without the security requirements: s.authenticate enforces
// them from the same spec (routeTable.secured) before the validator runs,
// so checking them again per request would only cost time on the hot path.
func embeddedSpec() (spec, validated *openapi3.T, specJSON []byte, err error) {
	s := loadSpec()
	return s.spec, s.validated, s.json, s.err
}

var loadSpec = sync.OnceValue(func() (out struct {
	spec, validated *openapi3.T
	json            []byte
	err             error
}) {
	if out.spec, out.err = api.GetSpec(); out.err != nil {
		return out
	}
	// The validator matches the Host against spec.Servers; the service must
	// answer on whatever address it is deployed at.
	out.spec.Servers = nil
	published, err := api.GetSpec()
	if err != nil {
		out.err = err
		return out
	}
	published.Servers = nil
	describePermissions(published)
	if out.json, out.err = json.Marshal(published); out.err != nil {
		return out
	}
	if out.validated, out.err = api.GetSpec(); out.err != nil {
		return out
	}
	out.validated.Servers = nil
	out.validated.Security = nil
	none := openapi3.SecurityRequirements{}
	for _, item := range out.validated.Paths.Map() {
		for _, op := range item.Operations() {
			op.Security = &none
		}
	}
	return out
})

// describePermissions adds to each operation's description, in the spec
// that Swagger UI shows, the permission it needs and what that permission
// allows, from the catalog: openapi.yaml names the permission
// (x-tokend-permission), the catalog is the one place its description lives.
func describePermissions(spec *openapi3.T) {
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			name, ok := op.Extensions[permissionExtension].(string)
			if !ok {
				continue
			}
			p := perm.Permission(name)
			line := fmt.Sprintf("**Needs `%s`**: %s.", p, p.Description())
			if op.Description == "" {
				op.Description = line
			} else {
				op.Description = line + "\n\n" + op.Description
			}
		}
	}
}

func (s *Server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.ErrorContext(c.Request().Context(), "panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"error", err, "stack", string(stack))
	return err
}

// authorize applies rules.MayCall before the handler does any work: the
// permission the spec declares for the operation (x-tokend-permission)
// against the caller's effective permissions (R3), and what a
// one-time-password session may call (x-tokend-one-time-session, R22).
func (s *Server) authorize(next api.StrictHandlerFunc, operation string) api.StrictHandlerFunc {
	need := s.routes.permissionByOperation[operation]
	oneTimeAllowed := s.routes.oneTimeSession[operation]
	return func(c echo.Context, request any) (any, error) {
		p := principalFrom(c.Request().Context())
		if p == nil {
			return next(c, request) // a public operation
		}
		if err := rules.MayCall(p.caller(), need, oneTimeAllowed); err != nil {
			return nil, err
		}
		return next(c, request)
	}
}

// securityHeaders: every answer is nosniff; every API answer is no-store
// (create, renew, secret, sign-in and import carry secrets, and the rest
// is nobody's cache's business) and never framed.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if s.routes.inSpec(c.Request().Method, c.Path()) || c.Path() == "" {
			h.Set("Cache-Control", "no-store")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
		}
		return next(c)
	}
}

// deadline gives every request a context deadline that reaches the database.
func deadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}
