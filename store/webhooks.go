package store

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Webhook is a company's subscription to token events.
type Webhook struct {
	ID               int64
	UUID             string `gorm:"column:uuid"`
	ClientID         int64
	URL              string     `gorm:"column:url"`
	Events           StringList `gorm:"type:text"`
	Enabled          bool
	SecretCiphertext []byte
	SecretKeyID      string
	CreatedBy        *int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// AAD binds the webhook's sealed signing key to this webhook: a ciphertext
// copied to another row does not open.
func (w *Webhook) AAD() []byte { return []byte("webhook:" + w.UUID) }

// Delivery is one event on its way to one webhook (the outbox).
type Delivery struct {
	ID             int64
	WebhookID      int64
	ClientID       int64
	Event          string
	Payload        string
	Status         string
	Attempts       int
	ResponseStatus *int
	LastError      *string
	NextAttemptAt  *time.Time
	CreatedAt      time.Time
	DeliveredAt    *time.Time
	// Claim is the lease holder's random id while a sender has it.
	Claim *string
}

// TableName pins the table name.
func (Delivery) TableName() string { return "webhook_deliveries" }

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Webhook events (the spec's WebhookEvent).
const (
	EventTokenExpiring = "token.expiring"
	EventTokenExpired  = "token.expired"
	EventTokenDisabled = "token.disabled"
	EventTokenRenewed  = "token.renewed"
	EventTokenLeaked   = "token.leaked"
)

// EventPayload is the JSON body a webhook receives.
type EventPayload struct {
	Event     string            `json:"event"`
	CreatedAt time.Time         `json:"created_at"`
	ClientID  int64             `json:"client_id"`
	Token     *TokenSummary     `json:"token,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// TokenSummary is what an event says about a token: never its value.
type TokenSummary struct {
	ID       int64      `json:"id"`
	Realname string     `json:"realname"`
	UserID   *int64     `json:"user_id"`
	Shared   bool       `json:"shared"`
	Hint     string     `json:"hint"`
	Enabled  bool       `json:"enabled"`
	ExpireAt *time.Time `json:"expire_at"`
}

// enqueueDeliveries writes, inside tx, one pending delivery of event for
// every enabled webhook of the token's company subscribed to it.
func (s *Store) enqueueDeliveries(tx *gorm.DB, event string, clientID, tokenID int64, details Details) error {
	var hooks []Webhook
	if err := tx.Where("client_id = ? AND enabled", clientID).Find(&hooks).Error; err != nil {
		return translate(err)
	}
	now := s.now().UTC()
	var payload []byte
	for _, h := range hooks {
		if !slices.Contains(h.Events, event) {
			continue
		}
		if payload == nil {
			var t Token
			if err := tx.Select("id", "realname", "user_id", "shared", "hint", "enabled", "expire_at").Where("id = ?", tokenID).Take(&t).Error; err != nil {
				return translate(err)
			}
			p := EventPayload{Event: event, CreatedAt: now, ClientID: clientID, Details: details, Token: &TokenSummary{
				ID: t.ID, Realname: t.Realname, UserID: t.UserID, Shared: t.Shared, Hint: t.Hint, Enabled: t.Enabled, ExpireAt: t.ExpireAt,
			}}
			var err error
			if payload, err = json.Marshal(p); err != nil {
				return err
			}
		}
		d := &Delivery{WebhookID: h.ID, ClientID: clientID, Event: event, Payload: string(payload),
			Status: DeliveryPending, NextAttemptAt: &now, CreatedAt: now}
		if err := tx.Create(d).Error; err != nil {
			return translate(err)
		}
	}
	return nil
}

// ListWebhooks returns the webhooks of the companies in scope.
func (s *Store) ListWebhooks(ctx context.Context, sc Scope, p Page) ([]Webhook, int64, error) {
	var rows []Webhook
	q := inScope(s.reader.WithContext(ctx).Model(&Webhook{}), sc, "client_id")
	if err := p.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, p.Limit, func(w Webhook) int64 { return w.ID })
	return rows, next, nil
}

// GetWebhook returns a webhook in scope.
func (s *Store) GetWebhook(ctx context.Context, sc Scope, id int64) (*Webhook, error) {
	var w Webhook
	if err := inScope(s.reader.WithContext(ctx).Model(&Webhook{}), sc, "client_id").Where("id = ?", id).Take(&w).Error; err != nil {
		return nil, translate(err)
	}
	return &w, nil
}

// CreateWebhook inserts a webhook.
func (s *Store) CreateWebhook(ctx context.Context, w *Webhook) error {
	now := s.now().UTC()
	w.CreatedAt, w.UpdatedAt = now, now
	return translate(s.db.WithContext(ctx).Create(w).Error)
}

// UpdateWebhook applies change to a webhook in scope.
func (s *Store) UpdateWebhook(ctx context.Context, sc Scope, id int64, change func(w *Webhook) error) (*Webhook, error) {
	var w Webhook
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.lock(inScope(tx.Model(&Webhook{}), sc, "client_id")).Where("id = ?", id).Take(&w).Error; err != nil {
			return translate(err)
		}
		if err := change(&w); err != nil {
			return err
		}
		w.UpdatedAt = s.now().UTC()
		return translate(tx.Model(&w).Select("url", "events", "enabled", "updated_at").UpdateColumns(&w).Error)
	})
	if err != nil {
		return nil, translate(err)
	}
	return &w, nil
}

// DeleteWebhook deletes a webhook in scope with its delivery log.
func (s *Store) DeleteWebhook(ctx context.Context, sc Scope, id int64) error {
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var w Webhook
		if err := inScope(tx.Model(&Webhook{}), sc, "client_id").Where("id = ?", id).Take(&w).Error; err != nil {
			return translate(err)
		}
		if err := tx.Where("webhook_id = ?", id).Delete(&Delivery{}).Error; err != nil {
			return err
		}
		return tx.Delete(&Webhook{}, id).Error
	}))
}

// ListDeliveries returns a webhook's deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, webhookID int64, p Page) ([]Delivery, int64, error) {
	var rows []Delivery
	q := s.reader.WithContext(ctx).Model(&Delivery{}).Where("webhook_id = ?", webhookID)
	if err := p.apply(q, true).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, p.Limit, func(d Delivery) int64 { return d.ID })
	return rows, next, nil
}

// ClaimDueDelivery takes the pending delivery whose time came first, if
// any, leasing it for lease under a fresh claim id (pushing next_attempt_at
// forward) so that no other sender takes it meanwhile. One at a time: a
// slow receiver delays only its own delivery, never lets another sender
// take over deliveries still queued behind it. A sender that dies leaves
// its claim to expire after lease, and the delivery is retried then.
func (s *Store) ClaimDueDelivery(ctx context.Context, lease time.Duration) (*Delivery, *Webhook, error) {
	var d Delivery
	var w Webhook
	found := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now().UTC()
		var due []Delivery
		if err := s.lockSkip(tx.Model(&Delivery{})).Where("status = ? AND next_attempt_at <= ?", DeliveryPending, now).
			Order("next_attempt_at").Order("id").Limit(1).Find(&due).Error; err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		d, found = due[0], true
		claim := uuid.NewString()
		until := now.Add(lease)
		d.Claim, d.NextAttemptAt = &claim, &until
		if err := tx.Model(&Delivery{}).Where("id = ?", d.ID).
			UpdateColumns(map[string]any{"next_attempt_at": until, "claim": claim}).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", d.WebhookID).Take(&w).Error
	})
	if err != nil || !found {
		return nil, nil, translate(err)
	}
	return &d, &w, nil
}

// FinishDelivery records the outcome of one attempt, if the sender still
// holds the claim: ok false means the lease ran out and another sender took
// over (its outcome stands).
func (s *Store) FinishDelivery(ctx context.Context, d *Delivery) (ok bool, err error) {
	q := s.db.WithContext(ctx).Model(&Delivery{}).Where("id = ?", d.ID)
	if d.Claim != nil {
		q = q.Where("claim = ?", *d.Claim)
	}
	res := q.UpdateColumns(map[string]any{
		"status": d.Status, "attempts": d.Attempts, "response_status": d.ResponseStatus, "last_error": d.LastError,
		"next_attempt_at": d.NextAttemptAt, "delivered_at": d.DeliveredAt, "claim": nil,
	})
	return res.RowsAffected == 1, translate(res.Error)
}

// ExpiringToken is a token due for its "expires soon" notice, with who to tell.
type ExpiringToken struct {
	Token Token
	// Recipients: the owner of a personal token; every enabled
	// administrator of the company for a shared one.
	Recipients []User
}

// NoticeExpiring finds enabled tokens expiring within `ahead` that have not
// been noticed yet and that live at least `ahead` in all (a token created to
// live two days gets no notice), marks them noticed, and enqueues the
// token.expiring webhook deliveries, in one transaction per batch.
func (s *Store) NoticeExpiring(ctx context.Context, ahead time.Duration, limit int) ([]ExpiringToken, error) {
	var out []ExpiringToken
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now().UTC()
		var due []Token
		if err := s.lockSkip(tx.Model(&Token{})).
			Where("enabled AND expire_at IS NOT NULL AND expire_at > ? AND expire_at <= ? AND expiry_notified_at IS NULL", now, now.Add(ahead)).
			Order("expire_at").Limit(limit).Find(&due).Error; err != nil {
			return err
		}
		for _, t := range due {
			// A notice is not an update of the token: updated_at stays.
			if err := tx.Model(&Token{}).Where("id = ?", t.ID).UpdateColumn("expiry_notified_at", now).Error; err != nil {
				return err
			}
			if t.ExpireAt.Sub(t.CreatedAt) < ahead {
				continue
			}
			if err := s.enqueueDeliveries(tx, EventTokenExpiring, t.ClientID, t.ID,
				Details{"expire_at": t.ExpireAt.UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
			e := ExpiringToken{Token: t}
			q := tx.Where("enabled")
			if t.UserID != nil {
				q = q.Where("id = ?", *t.UserID)
			} else {
				q = q.Where("client_id = ? AND role IN ?", t.ClientID, []string{"admin", "partner_admin"})
			}
			if err := q.Find(&e.Recipients).Error; err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, translate(err)
}
