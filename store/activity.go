package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/rules"
)

// Event is one line of the activity log. It never holds a secret: Details
// carries field names, roles, reasons and counts only.
type Event struct {
	ID           int64
	ClientID     int64
	Action       string
	ActorUserID  *int64
	ActorTokenID *int64
	TokenID      *int64
	UserID       *int64
	IP           *string `gorm:"column:ip"`
	Details      Details `gorm:"type:text"`
	CreatedAt    time.Time
}

// TableName pins the table name.
func (Event) TableName() string { return "activity_log" }

// Actions recorded in the activity log (the spec's ActivityAction).
const (
	ActionTokenCreate           = "token.create"
	ActionTokenUpdate           = "token.update"
	ActionTokenEnable           = "token.enable"
	ActionTokenDisable          = "token.disable"
	ActionTokenRenew            = "token.renew"
	ActionTokenDelete           = "token.delete"
	ActionTokenSecretRead       = "token.secret_read"
	ActionTokenSecretReadDenied = "token.secret_read_denied"
	ActionTokenExpire           = "token.expire"
	ActionTokenPurge            = "token.purge"
	ActionTokenOwnerCascade     = "token.owner_cascade"
	ActionTokenLeaked           = "token.leaked"
	ActionUserCreate            = "user.create"
	ActionUserUpdate            = "user.update"
	ActionUserDelete            = "user.delete"
	ActionUserLegacyImport      = "user.legacy_import"
	ActionUserPasswordReset     = "user.password_reset"
	ActionUserPasswordChange    = "user.password_change"
	ActionClientCreate          = "client.create"
	ActionClientUpdate          = "client.update"
	ActionClientDelete          = "client.delete"
)

// Actions lists every action, as the spec's ActivityAction does.
func Actions() []string {
	return []string{ActionTokenCreate, ActionTokenUpdate, ActionTokenEnable, ActionTokenDisable, ActionTokenRenew,
		ActionTokenDelete, ActionTokenSecretRead, ActionTokenSecretReadDenied, ActionTokenExpire, ActionTokenPurge,
		ActionTokenOwnerCascade, ActionTokenLeaked, ActionUserCreate, ActionUserUpdate, ActionUserDelete,
		ActionUserLegacyImport, ActionUserPasswordReset, ActionUserPasswordChange, ActionClientCreate,
		ActionClientUpdate, ActionClientDelete}
}

// Actor is who causes the changes made with a context: the HTTP layer puts
// it there once per request, and every mutation records it in the same
// transaction as the change. A context without one is tokend itself.
type Actor struct {
	UserID  *int64
	TokenID *int64
	IP      string
}

type actorKey struct{}

// WithActor returns a context whose mutations are attributed to a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the context's actor (zero: tokend itself).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// record appends an event inside tx, attributed to the context's actor.
func (s *Store) record(ctx context.Context, tx *gorm.DB, ev Event) error {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		ev.ActorUserID, ev.ActorTokenID = a.UserID, a.TokenID
		if a.IP != "" {
			ip := a.IP
			ev.IP = &ip
		}
	}
	if ev.Details == nil {
		ev.Details = Details{}
	}
	ev.CreatedAt = s.now().UTC()
	return translate(tx.Create(&ev).Error)
}

// Record applies and records events outside a transaction of the caller's
// (a value read, a refused read): one short transaction of its own.
func (s *Store) Record(ctx context.Context, events ...rules.Event) error {
	return s.Update(ctx, func(tx *Tx) error { return tx.Apply(events...) })
}

// ActivityFilter narrows ListActivity.
type ActivityFilter struct {
	TokenID *int64
	UserID  *int64 // about this user, or done by this user
	Action  *string
	Since   *time.Time
	Until   *time.Time
	Page
}

// ListActivity returns the events of the companies in scope, newest first.
func (s *Store) ListActivity(ctx context.Context, sc Scope, f ActivityFilter) ([]Event, int64, error) {
	q := inScope(s.reader.WithContext(ctx).Model(&Event{}), sc, "client_id")
	if f.TokenID != nil {
		q = q.Where("token_id = ?", *f.TokenID)
	}
	if f.UserID != nil {
		q = q.Where("(user_id = ? OR actor_user_id = ?)", *f.UserID, *f.UserID)
	}
	if f.Action != nil {
		q = q.Where("action = ?", *f.Action)
	}
	if f.Since != nil {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if f.Until != nil {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	var rows []Event
	if err := f.Page.apply(q, true).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, f.Limit, func(e Event) int64 { return e.ID })
	return rows, next, nil
}

// ActivityQuery is a Wallarm activity-log search of one company.
type ActivityQuery struct {
	ClientID int64
	Actions  []string // any of these; none: every action
	ActorIDs []int64
	// ByCaller: true only what a request did (an actor), false only what
	// tokend did itself (expiry, purge); nil both.
	ByCaller *bool
	Since    *time.Time
	Until    *time.Time
	Offset   int
	Limit    int
	Desc     bool
}

// FindActivity returns the events of one company in scope that match q,
// oldest first unless Desc.
func (s *Store) FindActivity(ctx context.Context, sc Scope, q ActivityQuery) ([]Event, error) {
	db := inScope(s.db.WithContext(ctx).Model(&Event{}), sc, "client_id").Where("client_id = ?", q.ClientID)
	if len(q.Actions) > 0 {
		db = db.Where("action IN ?", q.Actions)
	}
	if len(q.ActorIDs) > 0 {
		db = db.Where("actor_user_id IN ?", q.ActorIDs)
	}
	if q.ByCaller != nil {
		if *q.ByCaller {
			db = db.Where("(actor_user_id IS NOT NULL OR actor_token_id IS NOT NULL OR ip IS NOT NULL)")
		} else {
			db = db.Where("actor_user_id IS NULL AND actor_token_id IS NULL AND ip IS NULL")
		}
	}
	if q.Since != nil {
		db = db.Where("created_at >= ?", q.Since.UTC())
	}
	if q.Until != nil {
		db = db.Where("created_at < ?", q.Until.UTC())
	}
	var rows []Event
	err := offsetPage(db, "", q.Desc, q.Offset, q.Limit).Find(&rows).Error
	return rows, translate(err)
}
