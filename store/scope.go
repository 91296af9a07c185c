package store

import "gorm.io/gorm"

// inScope restricts column (a client id column) to the scope, in the
// query (R18).
func inScope(db *gorm.DB, sc Scope, column string) *gorm.DB {
	if sc.Global {
		return db.Where(column+" IN (SELECT id FROM clients WHERE id = ? OR parent_id = ?)", sc.ClientID, sc.ClientID)
	}
	return db.Where(column+" = ?", sc.ClientID)
}

// visible restricts a token query to what v may see (R6), in the query.
func visible(db *gorm.DB, v TokenVisibility) *gorm.DB {
	db = inScope(db, v.Scope, "tokens.client_id")
	if !v.AllInScope {
		db = db.Where("tokens.user_id = ?", v.UserID)
	}
	return db
}
