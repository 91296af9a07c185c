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

func dispatcher(env *testenv.Env) *notify.Dispatcher {
	return &notify.Dispatcher{Store: env.Store, Keys: env.Config.Keys, Client: notify.NewHTTPClient(true),
		Log: discardLogger(), Now: env.Clock.Now}
}

// Token events reach a company's webhook as signed JSON, from the outbox
// written with the change; a failing receiver is retried with backoff and the
// delivery log says what happened.
func TestWebhookDeliveries(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
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

// Webhooks never reach loopback or private addresses unless allowed.
func TestWebhookSSRFGuard(t *testing.T) {
	env := testenv.New(t, testenv.Backends(t)[0])
	ctx := context.Background()
	rcv := &receiver{}
	hookSrv := httptest.NewServer(rcv)
	defer hookSrv.Close()
	hook := newWebhook(t, env, env.Admin.Token, hookSrv.URL, client.WebhookEventTokenDisabled)
	tok := personalToken(t, env, env.Admin.Token, "admin")
	status(t, env, env.Admin.Token, "PUT", fmt.Sprintf("/v2/api_tokens/%d", tok.Id), `{"enabled":false}`)
	d := dispatcher(env)
	d.Client = notify.NewHTTPClient(false)
	testenv.Must(t, d.RunOnce(ctx))
	if len(rcv.events()) != 0 {
		t.Fatal("a webhook reached a loopback address")
	}
	logs, err := env.Client(env.Admin.Token).ListWebhookDeliveriesWithResponse(ctx, hook.Id, nil)
	testenv.Must(t, err)
	if e := logs.JSON200.Items[0].LastError; !e.IsSpecified() || !strings.Contains(e.MustGet(), "not public") {
		t.Fatalf("delivery log: %s", logs.Body)
	}
}

// Three days before a token expires, its owner (or, for a shared token,
// every administrator) gets an e-mail and the webhook a token.expiring
// event, once; a token that lives less than three days gets none.
func TestExpiryNotices(t *testing.T) {
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		env := testenv.New(t, b)
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
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
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
