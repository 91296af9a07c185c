package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// TokensByLegacyUUID finds the backward-compatible tokens imported with
// this UUID (R15): one per company at most, since legacy UUIDs are unique
// per company; the caller compares the secret's digest to pick the one.
func (s *Store) TokensByLegacyUUID(ctx context.Context, uuid string) ([]*Credential, error) {
	var ts []Token
	if err := translate(s.reader.WithContext(ctx).Where("legacy_id = ? AND backward_compatible", uuid).Limit(16).Find(&ts).Error); err != nil {
		return nil, err
	}
	out := make([]*Credential, 0, len(ts))
	for i := range ts {
		c, err := s.completeCredential(ctx, &Credential{Token: &ts[i]}, ts[i].UserID, ts[i].ClientID)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// SessionByDigest finds an unexpired sign-in session by its value's
// digests (one per key of the ring, R19).
func (s *Store) SessionByDigest(ctx context.Context, digests ...[]byte) (*Credential, error) {
	var sess Session
	if err := translate(s.reader.WithContext(ctx).Where("digest IN ? AND expires_at > ?", digests, s.now().UTC()).Take(&sess).Error); err != nil {
		return nil, err
	}
	var u User
	if err := translate(s.reader.WithContext(ctx).Where("id = ?", sess.UserID).Take(&u).Error); err != nil {
		return nil, err
	}
	return s.completeCredential(ctx, &Credential{Session: &sess}, &u.ID, u.ClientID)
}

func (s *Store) completeCredential(ctx context.Context, c *Credential, userID *int64, clientID int64) (*Credential, error) {
	db := s.reader.WithContext(ctx)
	if userID != nil {
		var u User
		if err := translate(db.Where("id = ?", *userID).Take(&u).Error); err != nil {
			return nil, err
		}
		c.User = &u
		var uc Client
		if err := translate(db.Where("id = ?", u.ClientID).Take(&uc).Error); err != nil {
			return nil, err
		}
		c.UserClient = &uc
	}
	var cl Client
	if err := translate(db.Where("id = ?", clientID).Take(&cl).Error); err != nil {
		return nil, err
	}
	c.Client = &cl
	return c, nil
}

// CreateSession stores a new sign-in session.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	return translate(s.db.WithContext(ctx).Create(sess).Error)
}

// DeleteSession ends a session (logout).
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	return translate(s.db.WithContext(ctx).Where("id = ?", id).Delete(&Session{}).Error)
}

// EndSessionByDigest ends the session whose value has one of these digests, if any.
func (s *Store) EndSessionByDigest(ctx context.Context, digests ...[]byte) error {
	return translate(s.db.WithContext(ctx).Where("digest IN ?", digests).Delete(&Session{}).Error)
}

// UserByEmail finds a user for sign-in.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	var u User
	if err := translate(s.db.WithContext(ctx).Where("email = ?", email).Take(&u).Error); err != nil {
		return nil, err
	}
	return &u, nil
}

// knownAddressLifetime is how long a sign-in address stays known (R23).
const knownAddressLifetime = 90 * 24 * time.Hour

// KnownAddress reports whether the user signed in from this address (an
// IPv4 address or IPv6 /64) lately.
func (s *Store) KnownAddress(ctx context.Context, userID int64, prefix string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Table("known_addresses").
		Where("user_id = ? AND prefix = ? AND last_seen_at > ?", userID, prefix, s.now().UTC().Add(-knownAddressLifetime)).
		Count(&n).Error
	return n > 0, translate(err)
}

// RememberAddress records a successful sign-in's address.
func (s *Store) RememberAddress(ctx context.Context, userID int64, prefix string) error {
	return translate(s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "prefix"}},
		DoUpdates: clause.Assignments(map[string]any{"last_seen_at": s.now().UTC()}),
	}).Table("known_addresses").Create(map[string]any{"user_id": userID, "prefix": prefix, "last_seen_at": s.now().UTC()}).Error)
}
