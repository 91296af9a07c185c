package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/notify"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
)

// receiver is a webhook endpoint that records what it gets and answers
// with the next scripted status (200 when the script runs out).
type receiver struct {
	mu       sync.Mutex
	got      []received
	statuses []int
}

type received struct {
	event, timestamp, signature string
	body                        []byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, received{req.Header.Get("X-Tokend-Event"), req.Header.Get("X-Tokend-Timestamp"), req.Header.Get("X-Tokend-Signature"), body})
	code := 200
	if len(r.statuses) > 0 {
		code, r.statuses = r.statuses[0], r.statuses[1:]
	}
	w.WriteHeader(code)
}

func (r *receiver) events() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func newWebhook(t *testing.T, env *testenv.Env, caller, url string, events ...client.WebhookEvent) client.WebhookWithSecret {
	t.Helper()
	r, err := env.Client(caller).CreateWebhookWithResponse(context.Background(), client.WebhookCreate{Url: url, Events: events})
	testenv.Must(t, err)
	if r.StatusCode() != 201 {
		t.Fatalf("create webhook: %d %s", r.StatusCode(), r.Body)
	}
	return *r.JSON201
}

// allowLoopback is the opt-in the tests' httptest receivers need, for
// registration (server.Config) and delivery (the dispatcher's client).
var allowLoopback = notify.Policy{AllowLoopback: true}

func loopbackEnv(t *testing.T, b testenv.Backend) *testenv.Env {
	return testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) { c.WebhookPolicy = allowLoopback }})
}

func dispatcher(env *testenv.Env) *notify.Dispatcher {
	return &notify.Dispatcher{Store: env.Store, Keys: env.Config.Keys, Client: notify.NewHTTPClient(env.Config.WebhookPolicy),
		Log: discardLogger(), Now: env.Clock.Now}
}

// Token events reach a company's webhook as signed JSON, from the outbox
// written with the change; a failing receiver is retried with backoff and the
// delivery log says what happened.
func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := loopbackEnv(t, b)
		ctx := context.Background()
		rcv := &receiver{statuses: []int{500}}
		hookSrv := httptest.NewServer(rcv)
		defer hookSrv.Close()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		hook := newWebhook(t, env, admin.Session, hookSrv.URL+"/hook", client.WebhookEventTokenDisabled, client.WebhookEventTokenRenewed, client.WebhookEventTokenLeaked)
		if !strings.HasPrefix(hook.Secret, "whsec_") {
			t.Fatalf("signing secret %q", hook.Secret)
		}
		tok := personalToken(t, env, admin.Session, "admin")
		if s := status(t, env, admin.Session, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tok.Id), `{"enabled":false}`); s != 200 {
			t.Fatal(s)
		}
		d := dispatcher(env)

		// First attempt: the receiver fails; the delivery waits 30 s.
		testenv.Must(t, d.RunOnce(ctx))
		logs, err := env.Client(admin.Session).ListWebhookDeliveriesWithResponse(ctx, hook.Id, nil)
		testenv.Must(t, err)
		del := logs.JSON200.Items[0]
		if del.Status != client.Pending || del.Attempts != 1 || del.ResponseStatus.MustGet() != 500 || !del.LastError.IsSpecified() {
			t.Fatalf("after a failed attempt: %s", logs.Body)
		}
		testenv.Must(t, d.RunOnce(ctx)) // not due yet
		if n := len(rcv.events()); n != 1 {
			t.Fatalf("retried before the backoff: %d attempts", n)
		}
		env.Clock.Advance(notify.Backoff(1) + time.Second)
		testenv.Must(t, d.RunOnce(ctx))
		got := rcv.events()
		if len(got) != 2 {
			t.Fatalf("attempts = %d, want 2", len(got))
		}
		last := got[1]
		if last.event != "token.disabled" || last.signature != "sha256="+notify.Sign(hook.Secret, last.timestamp, last.body) {
			t.Fatalf("delivery: event %q, signature %q", last.event, last.signature)
		}
		var payload struct {
			Event string `json:"event"`
			Token struct {
				ID      int64 `json:"id"`
				Enabled bool  `json:"enabled"`
			} `json:"token"`
		}
		testenv.Must(t, json.Unmarshal(last.body, &payload))
		if payload.Event != "token.disabled" || payload.Token.ID != tok.Id || payload.Token.Enabled {
			t.Fatalf("payload: %s", last.body)
		}
		if strings.Contains(string(last.body), tok.Secret) {
			t.Fatal("the payload carries the token value")
		}
		logs, err = env.Client(admin.Session).ListWebhookDeliveriesWithResponse(ctx, hook.Id, nil)
		testenv.Must(t, err)
		if del := logs.JSON200.Items[0]; del.Status != client.Delivered || del.Attempts != 2 || !del.DeliveredAt.IsSpecified() {
			t.Fatalf("after delivery: %s", logs.Body)
		}

		// Renew and leak each produce their event; unsubscribed ones do not.
		if s := status(t, env, admin.Session, "POST", fmt.Sprintf("/v2/api_tokens/%d/renew", tok.Id), ""); s != 200 {
			t.Fatal(s)
		}
		leaked := personalToken(t, env, admin.Session, "admin")
		env.Do("POST", "/v2/api_tokens/revoke_leaked", fmt.Sprintf(`{"token":%q}`, leaked.Secret), nil)
		testenv.Must(t, d.RunOnce(ctx))
		var names []string
		for _, r := range rcv.events()[2:] {
			names = append(names, r.event)
		}
		if strings.Join(names, ",") != "token.renewed,token.leaked" {
			t.Fatalf("events after renew and leak: %v", names)
		}
	})
}

// Webhooks never reach loopback or private addresses unless allowed: a
// webhook registered while loopback was allowed (or whose name now resolves
// to loopback) is refused when it is sent without the opt-in.
func TestWebhookSSRFGuard(t *testing.T) {
	t.Parallel()
	env := loopbackEnv(t, testenv.Backends(t)[0])
	ctx := context.Background()
	rcv := &receiver{}
	hookSrv := httptest.NewServer(rcv)
	defer hookSrv.Close()
	hook := newWebhook(t, env, env.Admin.Token, hookSrv.URL, client.WebhookEventTokenDisabled)
	tok := personalToken(t, env, env.Admin.Token, "admin")
	status(t, env, env.Admin.Token, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tok.Id), `{"enabled":false}`)
	d := dispatcher(env)
	d.Client = notify.NewHTTPClient(notify.Policy{AllowPrivate: true})
	testenv.Must(t, d.RunOnce(ctx))
	if len(rcv.events()) != 0 {
		t.Fatal("a webhook reached a loopback address")
	}
	logs, err := env.Client(env.Admin.Token).ListWebhookDeliveriesWithResponse(ctx, hook.Id, nil)
	testenv.Must(t, err)
	if e := logs.JSON200.Items[0].LastError; !e.IsSpecified() || !strings.Contains(e.MustGet(), "not public: it is a loopback address") {
		t.Fatalf("delivery log: %s", logs.Body)
	}
}

// Registration refuses URLs that point where webhooks may not go: 400
// problem+json naming /url and the reason class, never the URL; each switch
// opens its own class, and link-local, metadata and reserved addresses stay
// refused with both on.
func TestWebhookRegistrationSSRF(t *testing.T) {
	t.Parallel()
	b := testenv.Backends(t)[0]
	deny := testenv.New(t, b)
	both := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) {
		c.WebhookPolicy = notify.Policy{AllowLoopback: true, AllowPrivate: true}
	}})
	cases := []struct {
		url        string
		deny, both string // "" accepted, else the reason in the message
	}{
		{"https://hooks.example.com/ok", "", ""},
		{"https://8.8.8.8/ok", "", ""},
		{"http://127.0.0.1:9/hook", "a loopback address", ""},
		{"http://localhost:9/hook", "a loopback address", ""},
		{"http://[::ffff:127.0.0.1]:9/hook", "a loopback address", ""},
		{"http://0x7f.1/hook", "a loopback address", "non-standard form"},
		{"http://10.1.2.3/hook", "a private address", ""},
		{"http://[fd12::1]/hook", "a private address", ""},
		{"http://169.254.169.254/latest/meta-data/", "a link-local or metadata address", "a link-local or metadata address"},
		{"http://[fd00:ec2::254]/latest", "a link-local or metadata address", "a link-local or metadata address"},
		{"http://[fe80::1]/hook", "a link-local or metadata address", "a link-local or metadata address"},
		{"http://100.64.0.1/hook", "a reserved address", "a reserved address"},
		{"http://198.18.0.1/hook", "a reserved address", "a reserved address"},
		{"http://[64:ff9b::7f00:1]/hook", "a reserved address", "a reserved address"},
		{"http://0.0.0.0/hook", "a reserved address", "a reserved address"},
		{"http://secret:hunter2@hooks.example.com/", "user information", "user information"},
	}
	for _, c := range cases {
		for _, run := range []struct {
			env  *testenv.Env
			want string
		}{{deny, c.deny}, {both, c.both}} {
			body := fmt.Sprintf(`{"url":%q,"events":["token.disabled"]}`, c.url)
			resp := run.env.Do("POST", "/v2/webhooks", body, map[string]string{"X-WallarmApi-Token": run.env.Admin.Token})
			raw, _ := io.ReadAll(resp.Body)
			if run.want == "" {
				if resp.StatusCode != 201 {
					t.Errorf("POST %s: %d %s, want 201", c.url, resp.StatusCode, raw)
				}
				continue
			}
			checkURLProblem(t, "POST "+c.url, resp, raw, run.want, c.url)
		}
	}

	// An update to a refused URL is refused the same way and changes nothing.
	hook := newWebhook(t, deny, deny.Admin.Token, "https://hooks.example.com/keep", client.WebhookEventTokenDisabled)
	for u, reason := range map[string]string{
		"http://127.0.0.1:9/x":    "a loopback address",
		"http://10.0.0.1/":        "a private address",
		"http://169.254.169.254/": "a link-local or metadata address",
	} {
		resp := deny.Do("PUT", fmt.Sprintf("/v2/webhooks/%d", hook.Id), fmt.Sprintf(`{"url":%q}`, u),
			map[string]string{"X-WallarmApi-Token": deny.Admin.Token})
		raw, _ := io.ReadAll(resp.Body)
		checkURLProblem(t, "PUT "+u, resp, raw, reason, u)
	}
	got, err := deny.Client(deny.Admin.Token).GetWebhookWithResponse(context.Background(), hook.Id)
	testenv.Must(t, err)
	if got.JSON200 == nil || got.JSON200.Url != "https://hooks.example.com/keep" {
		t.Fatalf("a refused update changed the webhook: %s", got.Body)
	}
	if s := status(t, deny, deny.Admin.Token, "PUT", fmt.Sprintf("/v2/webhooks/%d", hook.Id), `{"enabled":false}`); s != 200 {
		t.Fatalf("an update without url: %d", s)
	}
}

func checkURLProblem(t *testing.T, what string, resp *http.Response, raw []byte, reason, url string) {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(raw, &p) != nil {
		t.Errorf("%s: %d %s %s, want a 400 problem", what, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		return
	}
	if len(p.Errors) != 1 || p.Errors[0].Field != "/url" || !strings.Contains(p.Errors[0].Message, reason) {
		t.Errorf("%s: %s, want /url: …%s", what, raw, reason)
	}
	if strings.Contains(string(raw), url) || strings.Contains(string(raw), "hunter2") {
		t.Errorf("%s: the problem echoes the URL: %s", what, raw)
	}
}

// Three days before a token expires, its owner (or, for a shared token,
// every administrator) gets an e-mail and the webhook a token.expiring
// event, once; a token that lives less than three days gets none.
func TestExpiryNotices(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := loopbackEnv(t, b)
		ctx := context.Background()
		mails := startSMTP(t)
		rcv := &receiver{}
		hookSrv := httptest.NewServer(rcv)
		defer hookSrv.Close()
		admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
		newWebhook(t, env, admin.Session, hookSrv.URL, client.WebhookEventTokenExpiring)

		now := env.Clock.Now()
		long := newToken(t, env, admin.Session, client.TokenCreate{Realname: "long-lived", Permissions: []string{"admin"}, ExpireAt: nullableTime(now.Add(5 * 24 * time.Hour))})
		newToken(t, env, admin.Session, client.TokenCreate{Realname: "short-lived", Permissions: []string{"admin"}, ExpireAt: nullableTime(now.Add(2 * 24 * time.Hour))})
		shared := true
		newToken(t, env, admin.Session, client.TokenCreate{Realname: "team", Permissions: []string{"nodes:view"}, Shared: &shared, ExpireAt: nullableTime(now.Add(4 * 24 * time.Hour))})

		d := dispatcher(env)
		d.Mailer = mails.mailer
		testenv.Must(t, d.RunOnce(ctx))
		if len(rcv.events()) != 0 || len(mails.all()) != 0 {
			t.Fatalf("notices 5 days ahead: %d webhooks, %d mails", len(rcv.events()), len(mails.all()))
		}
		env.Clock.Advance(2*24*time.Hour + time.Hour) // long: 2d23h left; team: 1d23h left
		testenv.Must(t, d.RunOnce(ctx))
		testenv.Must(t, d.RunOnce(ctx)) // once only
		got := rcv.events()
		if len(got) != 2 {
			t.Fatalf("token.expiring webhooks = %d, want 2 (long-lived and team)", len(got))
		}
		for _, r := range got {
			if r.event != "token.expiring" || strings.Contains(string(r.body), "short-lived") {
				t.Fatalf("unexpected event %q %s", r.event, r.body)
			}
		}
		sent := mails.all()
		var toOwner, toAdmins int
		for _, m := range sent {
			switch {
			case strings.Contains(m.data, `"long-lived"`) && m.to == admin.User.Email:
				toOwner++
			case strings.Contains(m.data, `"team"`):
				toAdmins++
			}
			if strings.Contains(m.data, long.Secret) {
				t.Fatal("an e-mail carries a token value")
			}
		}
		// The shared token goes to every admin of the company: the new admin
		// (the bootstrap user is partner_admin of the same company: also one).
		if toOwner != 1 || toAdmins != 2 {
			t.Fatalf("mails: %d to the owner, %d about the shared token (want 1 and 2): %+v", toOwner, toAdmins, sent)
		}
	})
}

type mail struct{ from, to, data string }

type mailbox struct {
	mu     sync.Mutex
	mails  []mail
	mailer *notify.Mailer
}

func (m *mailbox) all() []mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail(nil), m.mails...)
}

// startSMTP runs an in-process SMTP server (github.com/emersion/go-smtp).
func startSMTP(t *testing.T) *mailbox {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(smtpBackend{box})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	go func() { _ = srv.Serve(ln) }() // ends with "server closed" at clean-up
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	box.mailer, err = notify.NewMailer(notify.SMTPConfig{Host: "127.0.0.1", Port: port, From: "tokend@example.com", TLS: "none"})
	testenv.Must(t, err)
	return box
}

type smtpBackend struct{ box *mailbox }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{box: b.box}, nil
}

type smtpSession struct {
	box  *mailbox
	from string
	to   []string
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	for _, to := range s.to {
		s.box.mails = append(s.box.mails, mail{from: s.from, to: to, data: string(data)})
	}
	return nil
}
