package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tokend/tokend/internal/jobs"
	"github.com/tokend/tokend/internal/notify"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/tlsfiles"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

type migrateCmd struct {
	dbFlags
}

func (c *migrateCmd) Run() error {
	ctx := context.Background()
	log := c.logger()
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	v, _ := st.MigrationVersion(ctx)
	log.Info("migrations applied", "applied", len(applied), "version", v)
	return nil
}

type bootstrapCmd struct {
	dbFlags
	Output          string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json (one JSON object on standard output)."`
	Force           bool   `help:"Add another Global Administrator even if users exist."`
	Expires         string `name:"expires" default:"24h" help:"How long the first token works (a duration like 24h or 7d, or never): a first token is the keys to the installation; create a lasting credential of your own with it."`
	Email           string `name:"email" help:"The Global Administrator's e-mail address (default: a generated one)."`
	SecretRetrieval string `name:"secret-retrieval" env:"TOKEND_SECRET_RETRIEVAL" enum:"on,off" default:"on" help:"on: token values can be read back (R9); off: show-once mode."`
	TokenFormat     string `name:"token-format" env:"TOKEND_TOKEN_FORMAT" enum:"tkd,wallarm" default:"tkd" help:"tkd: tkd_… values; wallarm: 64 characters, as Wallarm issues them. Both authenticate whatever the setting."`
}

func (c *bootstrapCmd) Run() error {
	ctx := context.Background()
	log := c.logger()
	st, keys, err := openAndMigrate(ctx, &c.dbFlags, log)
	if err != nil {
		return err
	}
	defer st.Close()
	format, _ := secret.ParseFormat(c.TokenFormat)
	expires, err := parseLifetime(c.Expires)
	if err != nil {
		return usageErrorf("--expires: %v", err)
	}
	res, err := server.BootstrapWith(ctx, st, server.Config{Keys: keys, SecretRetrieval: c.SecretRetrieval == "on", TokenFormat: format},
		server.BootstrapOptions{Force: c.Force, Expires: expires, Email: c.Email})
	if errors.Is(err, store.ErrAlreadyBootstrapped) {
		fmt.Fprintln(os.Stderr, "tokend: the database already has users; nothing to do (use --force to add another Global Administrator)")
		return nil
	}
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("company id: %d\nuser id:    %d\nAPI token:  %s\n", res.ClientID, res.UserID, res.Token)
	if res.ExpireAt != nil {
		fmt.Printf("expires:    %s (create a lasting credential of your own with it)\n", res.ExpireAt.Format(time.RFC3339))
	}
	return nil
}

// parseLifetime reads a duration ("24h", "7d", the one syntax of every
// duration flag) or "never" (0).
func parseLifetime(v string) (time.Duration, error) {
	if v == "never" || v == "0" {
		return 0, nil
	}
	d, err := parseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration (24h, 7d, never)", v)
	}
	return d, nil
}

type serveCmd struct {
	dbFlags
	Listen              string        `env:"TOKEND_LISTEN" default:"127.0.0.1:8080" help:"Address to listen on."`
	SecretRetrieval     string        `name:"secret-retrieval" env:"TOKEND_SECRET_RETRIEVAL" enum:"on,off" default:"on" help:"on: token values can be read back (R9); off: show-once mode."`
	TokenFormat         string        `name:"token-format" env:"TOKEND_TOKEN_FORMAT" enum:"tkd,wallarm" default:"tkd" help:"tkd: tkd_… values; wallarm: 64 characters, as Wallarm issues them. Both authenticate whatever the setting."`
	DisabledRetention   time.Duration `name:"disabled-retention" env:"TOKEND_DISABLED_RETENTION" default:"168h" help:"How long disabled tokens are kept before the purge."`
	AuthFailureLimit    int           `name:"auth-failure-limit" env:"TOKEND_AUTH_FAILURE_LIMIT" default:"30" help:"Failed authentications one address may make per window before it gets 429."`
	AuthFailureWindow   time.Duration `name:"auth-failure-window" env:"TOKEND_AUTH_FAILURE_WINDOW" default:"5m" help:"The window of --auth-failure-limit."`
	MetricsListen       string        `name:"metrics-listen" env:"TOKEND_METRICS_LISTEN" default:"127.0.0.1:9464" help:"Address of the Prometheus /metrics listener, apart from the API so that strangers cannot read it (\"off\" to disable; :9464 to let a scraper on the network in)."`
	AccessLog           string        `name:"access-log" env:"TOKEND_ACCESS_LOG" enum:"errors,all,off" default:"errors" help:"Which requests get a log line: errors (4xx and 5xx, at most 20 lines a second each, each line counting the ones it stands for), all, or off. Successes are counted in the metrics."`
	DebugListen         string        `name:"debug-listen" env:"TOKEND_DEBUG_LISTEN" help:"A loopback address for net/http/pprof (off by default), to profile a running server."`
	BootstrapTokenFile  string        `name:"bootstrap-token-file" env:"TOKEND_BOOTSTRAP_TOKEN_FILE" help:"Where a new installation's first token is written, mode 0600 (default: tokend-bootstrap-token next to the SQLite file, or in the working directory)."`
	PrintBootstrapToken bool          `name:"print-bootstrap-token" help:"Also print a new installation's first token to standard output (it then lives in your logs)."`
	TrustedProxies      []string      `name:"trusted-proxies" env:"TOKEND_TRUSTED_PROXIES" sep:"," help:"CIDRs of the proxies whose X-Forwarded-For is believed (R23); none by default: the client address is the connection's."`
	SMTPHost            string        `name:"smtp-host" env:"TOKEND_SMTP_HOST" help:"SMTP server for expiry e-mails (empty: no e-mail)."`
	SMTPPort            int           `name:"smtp-port" env:"TOKEND_SMTP_PORT" default:"587" help:"SMTP port."`
	SMTPUsername        string        `name:"smtp-username" env:"TOKEND_SMTP_USERNAME" help:"SMTP user (PLAIN auth)."`
	SMTPPassword        string        `name:"smtp-password" hidden:"" env:"TOKEND_SMTP_PASSWORD" help:"SMTP password (prefer the environment: flags show in ps)."`
	SMTPFrom            string        `name:"smtp-from" env:"TOKEND_SMTP_FROM" help:"Sender address of expiry e-mails."`
	SMTPTLS             string        `name:"smtp-tls" env:"TOKEND_SMTP_TLS" enum:"starttls,tls,none" default:"starttls" help:"starttls (required), tls (implicit), or none."`
	WebhookAllowPrivate bool          `name:"webhook-allow-private" env:"TOKEND_WEBHOOK_ALLOW_PRIVATE" help:"Allow webhooks to private addresses: RFC 1918, fc00::/7 (off: SSRF guard)."`
	CacheSize           int           `name:"cache-size" env:"TOKEND_CACHE_SIZE" default:"100000" help:"Verification cache entries (0 disables the cache)."`
	CacheTTL            time.Duration `name:"cache-ttl" env:"TOKEND_CACHE_TTL" default:"1m" help:"Longest a cached verification lives (revocation does not wait for it: see --stale-bound)."`
	StaleBound          time.Duration `name:"stale-bound" env:"TOKEND_STALE_BOUND" default:"1s" help:"R24: a cached acceptance is served only while this replica proved itself current with the change log within this bound; past it the database decides, and if it cannot be read, 503."`
	ListenDatabaseURL   string        `name:"listen-database-url" env:"TOKEND_LISTEN_DATABASE_URL" help:"A direct PostgreSQL connection for LISTEN when a transaction-pooling PgBouncer is in the way (default: the database URL)."`

	// The SSRF guard's other opt-in, beside --webhook-allow-private;
	// link-local and metadata addresses stay refused whatever both say.
	WebhookAllowLoopback bool `name:"webhook-allow-loopback" env:"TOKEND_WEBHOOK_ALLOW_LOOPBACK" help:"Allow webhooks to loopback addresses (tests, local development; off: SSRF guard)."`

	TLSCertFile string `name:"tls-cert-file" env:"TOKEND_TLS_CERT_FILE" help:"Serve HTTPS (TLS 1.2+) with this PEM certificate (chain); with --tls-key-file. SIGHUP reloads both."`
	TLSKeyFile  string `name:"tls-key-file" env:"TOKEND_TLS_KEY_FILE" help:"The PEM private key of --tls-cert-file."`
}

func (c *serveCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := c.logger()
	st, keys, err := openAndMigrate(ctx, &c.dbFlags, log)
	if err != nil {
		return err
	}
	defer st.Close()
	format, _ := secret.ParseFormat(c.TokenFormat)
	proxies, err := parsePrefixes(c.TrustedProxies)
	if err != nil {
		return usageErrorf("--trusted-proxies: %v", err)
	}
	cfg := server.Config{Keys: keys, SecretRetrieval: c.SecretRetrieval == "on", Logger: log, TokenFormat: format,
		AccessLog:         server.AccessLog(c.AccessLog),
		TrustedProxies:    proxies,
		DisabledRetention: c.DisabledRetention,
		AuthFailureLimit:  c.AuthFailureLimit, AuthFailureWindow: c.AuthFailureWindow,
		CacheSize: cacheSize(c.CacheSize), CacheTTL: c.CacheTTL, StaleBound: c.StaleBound,
		ListenDatabaseURL: c.ListenDatabaseURL, Context: ctx,
		WebhookPolicy: notify.Policy{AllowLoopback: c.WebhookAllowLoopback, AllowPrivate: c.WebhookAllowPrivate}}
	cfg.Metrics = prometheus.NewRegistry()
	cfg.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	jobMetrics := jobs.NewMetrics(cfg.Metrics)
	cfg.Usage = server.NewUsageRecorder(st, nil)
	cfg.Usage.Observe = func(start time.Time, ran bool, err error) { jobMetrics.Observe("usage_flush", start, ran, err) }
	// The recorder outlives the signal: it stops after in-flight requests
	// finished, and flushes what they noted.
	usageCtx, stopUsage := context.WithCancel(context.Background())
	defer stopUsage()
	usageDone := make(chan struct{})
	go func() { cfg.Usage.Run(usageCtx, 10*time.Second, log); close(usageDone) }()

	pair, err := c.tlsPair()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	baseURL := "http://" + ln.Addr().String()
	if pair != nil {
		baseURL = "https://" + ln.Addr().String()
	}
	if err := c.bootstrap(ctx, st, cfg, baseURL); err != nil {
		return err
	}

	e, err := server.New(cfg, st)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mailer, err := notify.NewMailer(notify.SMTPConfig{Host: c.SMTPHost, Port: c.SMTPPort, Username: c.SMTPUsername,
		Password: c.SMTPPassword, From: c.SMTPFrom, TLS: c.SMTPTLS})
	if err != nil {
		return err
	}
	dispatcher := &notify.Dispatcher{Store: st, Keys: keys, Client: notify.NewHTTPClient(cfg.WebhookPolicy), Mailer: mailer, Log: log}
	go dispatcher.Run(ctx, 5*time.Second)
	maint := &jobs.Maintenance{Store: st, Retention: c.DisabledRetention, Log: log, Metrics: jobMetrics}
	go maint.Run(ctx, time.Minute)

	stopSide, err := c.sideListeners(cfg, log)
	if err != nil {
		return err
	}
	defer stopSide()
	log.Info("tokend serving", "address", baseURL, "swagger_ui", baseURL+"/api-docs", "database", string(st.Dialect()),
		"metrics", c.MetricsListen)
	fmt.Printf("tokend: web console at %s/console (sign in with an API token or your e-mail and password)\n", baseURL)
	fmt.Printf("tokend: Swagger UI at %s/api-docs\n", baseURL)
	errc := make(chan error, 1)
	if pair != nil {
		srv.TLSConfig = pair.Config()
		pair.ReloadOnSIGHUP(ctx, log)
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopUsage()
	<-usageDone
	return err
}

// tlsPair loads --tls-cert-file and --tls-key-file (nil: plain HTTP).
func (c *serveCmd) tlsPair() (*tlsfiles.Pair, error) {
	if c.TLSCertFile == "" && c.TLSKeyFile == "" {
		return nil, nil
	}
	if c.TLSCertFile == "" || c.TLSKeyFile == "" {
		return nil, errors.New("--tls-cert-file and --tls-key-file (TOKEND_TLS_CERT_FILE, TOKEND_TLS_KEY_FILE) go together")
	}
	return tlsfiles.Load(c.TLSCertFile, c.TLSKeyFile)
}

// openAndMigrate opens the store, applies migrations and loads the keys.
func openAndMigrate(ctx context.Context, f *dbFlags, log *slog.Logger) (*store.Store, *secret.Keyring, error) {
	st, err := f.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, nil, err
	}
	keys, err := f.loadKeys(ctx, st, log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, keys, nil
}

type purgeCmd struct {
	dbFlags
	DisabledRetention time.Duration `name:"disabled-retention" env:"TOKEND_DISABLED_RETENTION" default:"168h" help:"How long disabled tokens are kept before the purge."`
}

// Run marks expired tokens disabled and deletes those disabled longer than
// the retention, once (the same job serve runs every minute).
func (c *purgeCmd) Run() error {
	ctx := context.Background()
	log := c.logger()
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	r, err := (&jobs.Maintenance{Store: st, Retention: c.DisabledRetention, Log: log}).RunOnce(ctx)
	if err != nil {
		return err
	}
	log.Info("purge done", "expired", r.Expired, "purged", r.Purged)
	return nil
}

// cacheSize maps the flag (0 = off) to server.Config (negative = off).
func cacheSize(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// parsePrefixes reads CIDRs (a bare address is its own /32 or /128).
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !strings.Contains(v, "/") {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", v)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// bootstrap gives an empty database its first Global Administrator and a
// token that works 24 hours, written to a 0600 file rather than printed:
// a never-expiring administrator token in a log (or a container's log
// collector) is the worst secret to leak.
func (c *serveCmd) bootstrap(ctx context.Context, st *store.Store, cfg server.Config, baseURL string) error {
	res, err := server.BootstrapWith(ctx, st, cfg, server.BootstrapOptions{Expires: 24 * time.Hour})
	switch {
	case errors.Is(err, store.ErrAlreadyBootstrapped):
		return nil
	case err != nil:
		return fmt.Errorf("bootstrap: %w", err)
	}
	path := c.BootstrapTokenFile
	if path == "" {
		path = "tokend-bootstrap-token"
		if db, ok := sqlitePath(c.DatabaseURL); ok {
			path = filepath.Join(filepath.Dir(db), path)
		}
	}
	if err := os.WriteFile(path, []byte(res.Token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the first token: %w", err)
	}
	_ = os.Chmod(path, 0o600) // WriteFile keeps the mode of a file that was there
	fmt.Printf("tokend: new installation: company %d, Global Administrator user %d\n", res.ClientID, res.UserID)
	fmt.Printf("tokend: its API token is in %s (mode 0600); it works until %s:\n", path, res.ExpireAt.Format(time.RFC3339))
	fmt.Printf("tokend:   sign in at %s/console with it and create a user with a password or a token of your own, then delete the file\n", baseURL)
	fmt.Printf("tokend: try it:  curl -H \"X-WallarmApi-Token: $(cat %s)\" %s/v2/user\n", path, baseURL)
	if c.PrintBootstrapToken {
		fmt.Printf("tokend: API token: %s\n", res.Token)
	}
	return nil
}

// sideListeners serves the Prometheus metrics and, when asked, pprof, each
// on a listener of its own, apart from the API.
func (c *serveCmd) sideListeners(cfg server.Config, log *slog.Logger) (stop func(), err error) {
	var servers []*http.Server
	serve := func(addr string, h http.Handler, what string) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s listener: %w", what, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(what+" listener stopped", "error", err)
			}
		}()
		return nil
	}
	stop = func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}
	if c.MetricsListen != "" && c.MetricsListen != "off" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", server.MetricsHandler(cfg.Metrics))
		if err := serve(c.MetricsListen, mux, "metrics"); err != nil {
			return stop, err
		}
	}
	if c.DebugListen != "" {
		host, _, err := net.SplitHostPort(c.DebugListen)
		if ip, perr := netip.ParseAddr(host); err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
			stop()
			return stop, usageErrorf("--debug-listen %q: pprof is served on a loopback address only (127.0.0.1:6060, [::1]:6060)", c.DebugListen)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		if err := serve(c.DebugListen, mux, "debug"); err != nil {
			return stop, err
		}
		log.Info("pprof serving", "address", "http://"+c.DebugListen+"/debug/pprof/")
	}
	return stop, nil
}
