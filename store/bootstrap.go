package store

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// ErrAlreadyBootstrapped means the database already has users.
var ErrAlreadyBootstrapped = errors.New("database already has users")

// Bootstrap creates the first company, its Global Administrator and that
// user's first token in one transaction, unless users exist. With force it
// adds another administrator (and token) to the oldest top-level company.
func (s *Store) Bootstrap(ctx context.Context, client *Client, user *User, token *Token, force bool) error {
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var users int64
		if err := tx.Model(&User{}).Count(&users).Error; err != nil {
			return err
		}
		switch {
		case users > 0 && !force:
			return ErrAlreadyBootstrapped
		case users > 0:
			if err := tx.Where("parent_id IS NULL").Order("id").Take(client).Error; err != nil {
				return translate(err)
			}
		default:
			if err := tx.Create(client).Error; err != nil {
				return translate(err)
			}
		}
		user.ClientID = client.ID
		withSkeleton(user)
		if err := tx.Create(user).Error; err != nil {
			return translate(err)
		}
		token.ClientID, token.UserID, token.CreatedBy = client.ID, &user.ID, &user.ID
		return translate(tx.Create(token).Error)
	}))
}

// HasUsers reports whether any user exists (an empty database gets bootstrapped).
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&User{}).Limit(1).Count(&n).Error
	return n > 0, translate(err)
}
