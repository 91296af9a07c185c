package store

import "gorm.io/gorm"

// Page is a keyset page request: at most Limit rows after the row whose id
// is After (0 = from the start). Keyset, not offset, so that deep pages cost
// the same as the first.
type Page struct {
	Limit int
	After int64
}

// DefaultPageLimit is a page's size when none is asked for.
const DefaultPageLimit = 100

// paginate orders by id and fetches one row more than asked, to know
// whether another page follows without a COUNT.
func (p Page) apply(db *gorm.DB, descending bool) *gorm.DB {
	if p.Limit <= 0 {
		p.Limit = DefaultPageLimit
	}
	if p.After > 0 {
		if descending {
			db = db.Where("id < ?", p.After)
		} else {
			db = db.Where("id > ?", p.After)
		}
	}
	order := "id"
	if descending {
		order = "id DESC"
	}
	return db.Order(order).Limit(p.Limit + 1)
}

// trim cuts the extra row and reports the id to continue after (0 = last page).
func trim[T any](rows []T, limit int, id func(T) int64) ([]T, int64) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	if len(rows) <= limit {
		return rows, 0
	}
	rows = rows[:limit]
	return rows, id(rows[len(rows)-1])
}

// offsetPage is Wallarm's pagination for the Wallarm surface: rows skipped
// by offset, ordered by column (then id, so that pages are stable), at
// most limit of them (0: DefaultPageLimit). Deep offsets cost what they
// cost; Wallarm's clients page shallowly (Terraform asks for one page).
func offsetPage(db *gorm.DB, column string, desc bool, offset, limit int) *gorm.DB {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	dir := ""
	if desc {
		dir = " DESC"
	}
	if column != "" && column != "id" {
		db = db.Order(column + dir)
	}
	return db.Order("id" + dir).Offset(offset).Limit(limit)
}
