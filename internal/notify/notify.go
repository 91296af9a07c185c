// Package notify delivers token events: signed webhook POSTs from the
// outbox the store fills in the same transaction as each change, with
// retries and exponential backoff, and "expires in three days" e-mails over
// SMTP. serve runs it every few seconds; deliveries are claimed with a
// lease, so several replicas can run it without sending twice.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/store"
)

// Defaults.
const (
	ExpiryNotice    = 72 * time.Hour // like Wallarm: three days ahead
	MaxAttempts     = 8
	firstRetryDelay = 30 * time.Second
	maxRetryDelay   = time.Hour
	// deliveryLease is how long a sender holds a delivery: well over the
	// HTTP client's whole timeout (10 s), so that a slow receiver never
	// makes a second sender take it, and short enough that a sender that
	// died is replaced promptly.
	deliveryLease = 30 * time.Second
	// sendBudget bounds one RunOnce, so that a backlog does not starve
	// the expiry notices.
	sendBudget = 20 * time.Second
)

// Dispatcher sends what is due.
type Dispatcher struct {
	Store  *store.Store
	Keys   *secret.Keyring
	Client *http.Client // nil: NewHTTPClient(Policy{}), public destinations only
	Mailer *Mailer      // nil: no e-mail
	Log    *slog.Logger
	Now    func() time.Time
}

// RunOnce notices expiring tokens, then sends every due delivery once.
func (d *Dispatcher) RunOnce(ctx context.Context) error {
	now := d.now
	expiring, err := d.Store.NoticeExpiring(ctx, ExpiryNotice, 500)
	if err != nil {
		return err
	}
	if d.Mailer != nil {
		for _, e := range expiring {
			if err := d.Mailer.SendExpiring(ctx, e); err != nil {
				d.Log.Warn("expiry e-mail failed", "token_id", e.Token.ID, "error", err)
			}
		}
	}
	deadline := time.Now().Add(sendBudget)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		del, hook, err := d.Store.ClaimDueDelivery(ctx, deliveryLease)
		if err != nil || del == nil {
			return err
		}
		d.attempt(ctx, del, hook, now())
		if ok, err := d.Store.FinishDelivery(ctx, del); err != nil {
			return err
		} else if !ok {
			d.Log.Warn("webhook delivery outlived its lease; another sender took it over", "delivery_id", del.ID)
		}
	}
	return nil
}

// Run repeats RunOnce every interval until ctx ends.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.Log.Warn("notification dispatch failed; will retry", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// attempt sends one delivery and records the outcome on it.
func (d *Dispatcher) attempt(ctx context.Context, del *store.Delivery, hook *store.Webhook, now time.Time) {
	del.Attempts++
	code, err := d.post(ctx, del, hook, now)
	if code != 0 {
		del.ResponseStatus = &code
	}
	if err == nil {
		del.Status, del.DeliveredAt, del.NextAttemptAt, del.LastError = store.DeliveryDelivered, &now, nil, nil
		return
	}
	msg := err.Error()
	del.LastError = &msg
	if del.Attempts >= MaxAttempts || hook == nil || !hook.Enabled {
		del.Status, del.NextAttemptAt = store.DeliveryFailed, nil
		return
	}
	next := now.Add(Backoff(del.Attempts))
	del.NextAttemptAt = &next
}

// Backoff is the wait after the n-th failed attempt: 30 s, 1 min, 2 min, …,
// at most an hour.
func Backoff(n int) time.Duration {
	d := firstRetryDelay << (n - 1)
	if d <= 0 || d > maxRetryDelay {
		return maxRetryDelay
	}
	return d
}

func (d *Dispatcher) post(ctx context.Context, del *store.Delivery, hook *store.Webhook, now time.Time) (int, error) {
	if hook == nil {
		return 0, errors.New("webhook deleted")
	}
	if !hook.Enabled {
		return 0, errors.New("webhook disabled")
	}
	key, err := d.Keys.Open(hook.SecretCiphertext, hook.SecretKeyID, hook.AAD())
	if err != nil {
		return 0, fmt.Errorf("open signing key: %w", err)
	}
	body := []byte(del.Payload)
	ts := strconv.FormatInt(now.Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokend-webhooks/1")
	req.Header.Set("X-Tokend-Event", del.Event)
	req.Header.Set("X-Tokend-Delivery", strconv.FormatInt(del.ID, 10))
	req.Header.Set("X-Tokend-Timestamp", ts)
	req.Header.Set("X-Tokend-Signature", "sha256="+Sign(key, ts, body))
	client := d.Client
	if client == nil {
		client = NewHTTPClient(Policy{})
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// Sign is the webhook signature: hex HMAC-SHA256 of "<timestamp>.<body>"
// under the webhook's signing key. Receivers recompute it and compare in
// constant time, and reject old timestamps to stop replays.
func Sign(key, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
