package store

import "context"

// ListClients returns the companies in scope, oldest first.
func (s *Store) ListClients(ctx context.Context, sc Scope, p Page) ([]Client, int64, error) {
	var rows []Client
	q := inScope(s.db.WithContext(ctx).Model(&Client{}), sc, "id")
	if err := p.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, p.Limit, func(c Client) int64 { return c.ID })
	return rows, next, nil
}

// GetClient returns a company in scope, else ErrNotFound.
func (s *Store) GetClient(ctx context.Context, sc Scope, id int64) (*Client, error) {
	var c Client
	q := inScope(s.db.WithContext(ctx).Model(&Client{}), sc, "id")
	if err := q.Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// ClientByID returns any company (sign-in: the user's own, before there is a scope).
func (s *Store) ClientByID(ctx context.Context, id int64) (*Client, error) {
	var c Client
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}
