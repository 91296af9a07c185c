package store

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/rules"
)

// Tx is one transaction of a mutation: what it loads is locked until the
// transaction ends, and what the rules decided (their events) is applied
// and recorded together.
//
// A handler reads like a short story inside Store.Update: load with the
// Lock… methods, decide with a call into internal/rules, then Apply the
// events. The store decides nothing.
type Tx struct {
	s   *Store
	db  *gorm.DB
	ctx context.Context
	ch  *Change
}

// Update runs fn in one transaction. PostgreSQL may abort it to break a
// deadlock; then fn runs again from the start, so it must only load,
// decide and apply.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return s.mutate(ctx, func(db *gorm.DB, ch *Change) error {
		return fn(&Tx{s: s, db: db, ctx: ctx, ch: ch})
	})
}

// LockToken loads a token v may see, with its owner and company, locked
// for the rest of the transaction; else ErrNotFound.
func (tx *Tx) LockToken(v TokenVisibility, id int64) (rules.Held, error) {
	var h rules.Held
	if err := tx.s.lock(visible(tx.db.Model(&Token{}), v)).Where("id = ?", id).Take(&h.Token).Error; err != nil {
		return h, translate(err)
	}
	return h, tx.complete(&h)
}

// LockTokenByID loads any token by id, locked (maintenance and leak
// reports, which act on tokend's own authority).
func (tx *Tx) LockTokenByID(id int64) (rules.Held, error) {
	var h rules.Held
	if err := tx.s.lock(tx.db.Model(&Token{})).Where("id = ?", id).Take(&h.Token).Error; err != nil {
		return h, translate(err)
	}
	return h, tx.complete(&h)
}

// complete loads the owner (locked: a role change racing a token change
// must wait) and the company of a held token.
func (tx *Tx) complete(h *rules.Held) error {
	if h.Token.UserID != nil {
		var u User
		err := tx.s.lock(tx.db.Model(&User{})).Where("id = ?", *h.Token.UserID).Take(&u).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return translate(err)
		}
		if err == nil {
			h.Owner = &u
		}
	}
	var c Client
	if err := tx.db.Where("id = ?", h.Token.ClientID).Take(&c).Error; err != nil {
		return translate(err)
	}
	h.Company = &c
	return nil
}

// LockUser loads a user in scope, locked; else ErrNotFound.
func (tx *Tx) LockUser(sc Scope, id int64) (*User, error) {
	var u User
	if err := tx.s.lock(inScope(tx.db.Model(&User{}), sc, "client_id")).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// LockUserByID loads any user by id, locked (the caller's own row).
func (tx *Tx) LockUserByID(id int64) (*User, error) {
	var u User
	if err := tx.s.lock(tx.db.Model(&User{})).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// PersonalTokens loads a user's personal tokens, locked, oldest first.
func (tx *Tx) PersonalTokens(userID int64) ([]Token, error) {
	var rows []Token
	err := tx.s.lock(tx.db.Model(&Token{})).Where("user_id = ? AND NOT shared", userID).Order("id").Find(&rows).Error
	return rows, translate(err)
}

// LockClient loads a company in scope, locked; else ErrNotFound.
func (tx *Tx) LockClient(sc Scope, id int64) (*Client, error) {
	var c Client
	if err := tx.s.lock(inScope(tx.db.Model(&Client{}), sc, "id")).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// Client loads a company in scope (not locked); else ErrNotFound.
func (tx *Tx) Client(sc Scope, id int64) (*Client, error) {
	var c Client
	if err := inScope(tx.db.Model(&Client{}), sc, "id").Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// Apply saves what the rules decided, as their events say, and records
// the events: the activity log, the webhook outbox and the cache
// invalidation are derived from them. Objects named by several events are
// written once.
func (tx *Tx) Apply(events ...rules.Event) error {
	w := writes{}
	for _, ev := range events {
		if err := tx.write(ev, w); err != nil {
			return err
		}
	}
	for i := 0; i < len(events); i++ {
		// An update that also enabled or disabled the token is one line of
		// the activity log: the state change, with the fields it changed.
		if ch, ok := events[i].(rules.TokenChanged); ok && i+1 < len(events) {
			if a, ok := stateChangeOf(events[i+1], ch.Token); ok {
				if len(ch.Fields) > 0 {
					a.Details["fields"] = joinNames(ch.Fields)
				}
				if err := tx.recordActivity(events[i+1], a); err != nil {
					return err
				}
				i++
				continue
			}
		}
		if err := tx.record(events[i]); err != nil {
			return err
		}
	}
	return nil
}

// stateChangeOf is the activity line of a manual enable or disable of t.
func stateChangeOf(ev rules.Event, t *Token) (Event, bool) {
	switch e := ev.(type) {
	case rules.TokenEnabled:
		if e.Token == t {
			a, _ := activityOf(ev)
			a.Details = Details{}
			return a, true
		}
	case rules.TokenDisabled:
		if e.Token == t && e.Reason == rules.ReasonManual {
			a, _ := activityOf(ev)
			return a, true
		}
	}
	return Event{}, false
}

// CreateClient, CreateUser and CreateToken insert rows as they are, with
// their creation events and no rule applied: for tools that seed a
// database (bench, tests) and for states the API would refuse. The API
// goes through internal/rules.

// CreateClient inserts a company.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	return s.Record(ctx, rules.ClientCreated{Client: c})
}

// CreateUser inserts a user.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	return s.Record(ctx, rules.UserCreated{User: u})
}

// CreateToken inserts a token.
func (s *Store) CreateToken(ctx context.Context, t *Token) error {
	return s.Record(ctx, rules.TokenCreated{Token: t})
}
