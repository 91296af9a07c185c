package store

import (
	"context"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/rules"
)

// ListClients returns the companies in scope, oldest first.
func (s *Store) ListClients(ctx context.Context, sc Scope, p Page) ([]Client, int64, error) {
	var rows []Client
	q := inScope(s.reader.WithContext(ctx).Model(&Client{}), sc, "id")
	if err := p.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, p.Limit, func(c Client) int64 { return c.ID })
	return rows, next, nil
}

// GetClient returns a company in scope, else ErrNotFound.
func (s *Store) GetClient(ctx context.Context, sc Scope, id int64) (*Client, error) {
	var c Client
	q := inScope(s.reader.WithContext(ctx).Model(&Client{}), sc, "id")
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

// ClientQuery is a Wallarm company search: every set field must match.
type ClientQuery struct {
	ID      int64
	UUID    string
	Name    string
	Enabled *bool
	Offset  int
	Limit   int
}

// FindClients returns the companies in scope that match q, oldest first
// (Wallarm's offset pagination).
func (s *Store) FindClients(ctx context.Context, sc Scope, q ClientQuery) ([]Client, error) {
	db := inScope(s.db.WithContext(ctx).Model(&Client{}), sc, "id")
	if q.ID != 0 {
		db = db.Where("id = ?", q.ID)
	}
	if q.UUID != "" {
		db = db.Where("uuid = ?", q.UUID)
	}
	if q.Name != "" {
		db = db.Where("name = ?", q.Name)
	}
	if q.Enabled != nil {
		db = db.Where("enabled = ?", *q.Enabled)
	}
	var rows []Client
	err := offsetPage(db, "", false, q.Offset, q.Limit).Find(&rows).Error
	return rows, translate(err)
}

// Parents returns the parent companies of cs by id: what Wallarm calls
// their partner. A tenant's users see their partner's id and UUID, as
// they do in Wallarm, though the partner is outside their scope.
func (s *Store) Parents(ctx context.Context, cs []Client) (map[int64]*Client, error) {
	var ids []int64
	for _, c := range cs {
		if c.ParentID != nil {
			ids = append(ids, *c.ParentID)
		}
	}
	out := map[int64]*Client{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Client
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	return out, nil
}

// CompanyContents counts what a company deletion takes with it
// (rules.DeleteClient), inside the transaction that deletes it.
func (tx *Tx) CompanyContents(clientID int64) (rules.CompanyContents, error) {
	var c rules.CompanyContents
	var users, tokens, nodes int64
	usersQ := tx.db.Model(&User{}).Select("id").Where("client_id = ?", clientID)
	for _, q := range []struct {
		db  *gorm.DB
		out *int64
	}{
		{tx.db.Model(&User{}).Where("client_id = ?", clientID), &users},
		{tx.db.Model(&Token{}).Where("client_id = ? OR user_id IN (?)", clientID, usersQ), &tokens},
		{tx.db.Model(&Node{}).Where("client_id = ?", clientID), &nodes},
	} {
		if err := q.db.Count(q.out).Error; err != nil {
			return c, translate(err)
		}
	}
	c.Users, c.Tokens, c.Nodes = int(users), int(tokens), int(nodes)
	return c, nil
}
