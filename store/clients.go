package store

import (
	"context"
	"strconv"

	"gorm.io/gorm"
)

// ListClients returns the companies in scope, oldest first.
func (s *Store) ListClients(ctx context.Context, sc Scope, p Page) ([]Client, int64, error) {
	var rows []Client
	q := sc.clientIDs(s.db.WithContext(ctx).Model(&Client{}), "id")
	if err := p.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, p.Limit, func(c Client) int64 { return c.ID })
	return rows, next, nil
}

// GetClient returns a company in scope, else ErrNotFound.
func (s *Store) GetClient(ctx context.Context, sc Scope, id int64) (*Client, error) {
	var c Client
	q := sc.clientIDs(s.db.WithContext(ctx).Model(&Client{}), "id")
	if err := q.Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// CreateClient inserts a company.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(c).Error; err != nil {
			return translate(err)
		}
		return s.record(ctx, tx, Event{ClientID: c.ID, Action: ActionClientCreate, Details: Details{"name": c.Name}})
	}))
}

// UpdateClient applies change to a company in scope under a row lock.
func (s *Store) UpdateClient(ctx context.Context, sc Scope, id int64, change func(c *Client) error) (*Client, error) {
	var c Client
	err := s.mutate(ctx, func(tx *gorm.DB, ch *Change) error {
		if err := s.lock(sc.clientIDs(tx.Model(&Client{}), "id")).Where("id = ?", id).Take(&c).Error; err != nil {
			return translate(err)
		}
		ch.ClientIDs = append(ch.ClientIDs, c.ID)
		if err := change(&c); err != nil {
			return err
		}
		c.UpdatedAt = s.now().UTC()
		if err := tx.Select("name", "enabled", "updated_at").Save(&c).Error; err != nil {
			return translate(err)
		}
		return s.record(ctx, tx, Event{ClientID: c.ID, Action: ActionClientUpdate, Details: Details{"name": c.Name, "enabled": strconv.FormatBool(c.Enabled)}})
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}
