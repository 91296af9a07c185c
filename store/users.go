package store

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// UserFilter narrows ListUsers.
type UserFilter struct {
	ClientID *int64
	Role     *string
	Enabled  *bool
	Q        string // substring of e-mail or name, case-insensitive
	Page
}

// ListUsers returns users in scope, oldest first.
func (s *Store) ListUsers(ctx context.Context, sc Scope, f UserFilter) ([]User, int64, error) {
	q := inScope(s.reader.WithContext(ctx).Model(&User{}), sc, "client_id")
	if f.ClientID != nil {
		q = q.Where("client_id = ?", *f.ClientID)
	}
	if f.Role != nil {
		q = q.Where("role = ?", *f.Role)
	}
	if f.Enabled != nil {
		q = q.Where("enabled = ?", *f.Enabled)
	}
	if f.Q != "" {
		like := "%" + escapeLike(strings.ToLower(f.Q)) + "%"
		q = q.Where("(email LIKE ? ESCAPE '\\' OR LOWER(realname) LIKE ? ESCAPE '\\')", like, like)
	}
	var rows []User
	if err := f.Page.apply(q, false).Find(&rows).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows, next := trim(rows, f.Limit, func(u User) int64 { return u.ID })
	return rows, next, nil
}

// GetUser returns a user in scope, else ErrNotFound.
func (s *Store) GetUser(ctx context.Context, sc Scope, id int64) (*User, error) {
	var u User
	q := inScope(s.reader.WithContext(ctx).Model(&User{}), sc, "client_id")
	if err := q.Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// CountPersonalTokens counts a user's personal tokens.
func (tx *Tx) CountPersonalTokens(userID int64) (int, error) {
	var n int64
	err := tx.db.Model(&Token{}).Where("user_id = ? AND NOT shared", userID).Count(&n).Error
	return int(n), translate(err)
}

// escapeLike makes user input literal inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UserQuery is a Wallarm user search: every set field must match.
type UserQuery struct {
	ID        int64
	ClientIDs []int64
	UUID      string
	Email     string // canonical (lower-case)
	Offset    int
	Limit     int
	OrderBy   string // "id", "realname", "email" or "create_at"; "": id
	Desc      bool
}

// FindUsers returns the users in scope that match q.
func (s *Store) FindUsers(ctx context.Context, sc Scope, q UserQuery) ([]User, error) {
	var rows []User
	err := offsetPage(userQuery(inScope(s.db.WithContext(ctx).Model(&User{}), sc, "client_id"), q),
		userOrder(q.OrderBy), q.Desc, q.Offset, q.Limit).Find(&rows).Error
	return rows, translate(err)
}

// LockUsers loads the users in scope that match q, locked, for a change
// of each (Wallarm's update and delete by filter).
func (tx *Tx) LockUsers(sc Scope, q UserQuery) ([]User, error) {
	var rows []User
	db := userQuery(tx.s.lock(inScope(tx.db.Model(&User{}), sc, "client_id")), q)
	err := offsetPage(db, userOrder(q.OrderBy), q.Desc, q.Offset, q.Limit).Find(&rows).Error
	return rows, translate(err)
}

func userQuery(db *gorm.DB, q UserQuery) *gorm.DB {
	if q.ID != 0 {
		db = db.Where("id = ?", q.ID)
	}
	if len(q.ClientIDs) > 0 {
		db = db.Where("client_id IN ?", q.ClientIDs)
	}
	if q.UUID != "" {
		db = db.Where("uuid = ?", q.UUID)
	}
	if q.Email != "" {
		db = db.Where("email = ?", q.Email)
	}
	return db
}

func userOrder(by string) string {
	return map[string]string{"realname": "realname", "email": "email", "username": "email", "create_at": "created_at"}[by]
}
