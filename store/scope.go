package store

import "gorm.io/gorm"

// Scope is the set of companies a caller may see (R18): its own company, and
// for a Global role (partner_*) also every tenant linked to it.
type Scope struct {
	ClientID int64
	Global   bool
}

// clientIDs restricts column (a client id column) to the scope, in the query.
func (sc Scope) clientIDs(db *gorm.DB, column string) *gorm.DB {
	if sc.Global {
		return db.Where(column+" IN (SELECT id FROM clients WHERE id = ? OR parent_id = ?)", sc.ClientID, sc.ClientID)
	}
	return db.Where(column+" = ?", sc.ClientID)
}

// Contains reports whether a client with this id and parent is in scope.
func (sc Scope) Contains(c *Client) bool {
	if c.ID == sc.ClientID {
		return true
	}
	return sc.Global && c.ParentID != nil && *c.ParentID == sc.ClientID
}
