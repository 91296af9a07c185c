package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/tokend/tokend/store"
)

// SMTPConfig configures e-mail delivery (TOKEND_SMTP_*).
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// TLS: "starttls" (required), "tls" (implicit, port 465), or "none".
	TLS string
}

// Mailer sends "your token expires soon" e-mails.
type Mailer struct {
	cfg SMTPConfig
}

// NewMailer checks cfg; with no host it returns nil (e-mail off).
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, nil
	}
	if cfg.From == "" {
		return nil, fmt.Errorf("TOKEND_SMTP_FROM is required with TOKEND_SMTP_HOST")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	return &Mailer{cfg: cfg}, nil
}

func (m *Mailer) client() (*mail.Client, error) {
	opts := []mail.Option{mail.WithPort(m.cfg.Port), mail.WithTimeout(10 * time.Second)}
	switch m.cfg.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(m.cfg.Username), mail.WithPassword(m.cfg.Password))
	}
	return mail.NewClient(m.cfg.Host, opts...)
}

// SendExpiring tells the token's people that it expires soon: its owner, or
// every administrator of the company for a shared token.
func (m *Mailer) SendExpiring(ctx context.Context, e store.ExpiringToken) error {
	if len(e.Recipients) == 0 {
		return nil
	}
	c, err := m.client()
	if err != nil {
		return err
	}
	var msgs []*mail.Msg
	for _, u := range e.Recipients {
		msg := mail.NewMsg()
		if err := msg.From(m.cfg.From); err != nil {
			return err
		}
		if err := msg.To(u.Email); err != nil {
			return err
		}
		msg.Subject(fmt.Sprintf("tokend: API token %q expires on %s", e.Token.Realname, e.Token.ExpireAt.UTC().Format("2006-01-02 15:04 MST")))
		msg.SetDate()
		msg.SetBodyString(mail.TypeTextPlain, expiringBody(u, e.Token))
		msgs = append(msgs, msg)
	}
	return c.DialAndSendWithContext(ctx, msgs...)
}

func expiringBody(u store.User, t store.Token) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n", u.Realname)
	owner := "your"
	if t.Shared {
		owner = "your company's shared"
	}
	fmt.Fprintf(&b, "%s API token %q (%s, id %d) expires on %s.\n\n", capitalize(owner), t.Realname, t.Hint, t.ID,
		t.ExpireAt.UTC().Format(time.RFC1123))
	b.WriteString("Renew it (POST /v2/api_tokens/{id}/renew, or `tokend tokens renew ID`) or set a new expiry before then;\n")
	b.WriteString("after it expires every request made with it is refused.\n")
	return b.String()
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
