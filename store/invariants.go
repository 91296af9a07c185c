package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/rules"
)

// A Violation is a stored state that DESIGN.md §3 rules out.
type Violation = rules.Violation

// sqlInvariant is a rule that one query checks: every row it returns (an id
// and, where it helps the reader, a related id as ref) breaks the rule.
type sqlInvariant struct {
	rule, kind string
	detail     string // formatted with ref
	query      string // may use @now
}

// sqlInvariants are the rules that need no Go code: plain SQL that reads
// the same on PostgreSQL and SQLite (bare boolean columns, no casts).
var sqlInvariants = []sqlInvariant{
	{"R11", "token", "its owner %d does not exist",
		`SELECT t.id, t.user_id AS ref FROM tokens t LEFT JOIN users u ON u.id = t.user_id
		 WHERE t.user_id IS NOT NULL AND u.id IS NULL`},
	{"R13", "token", "digest is not an HMAC-SHA256",
		fmt.Sprintf(`SELECT id, 0 AS ref FROM tokens WHERE length(digest) <> %d`, sha256.Size)},
	{"R13", "token", "sealed secret without its key id, or a key id without a sealed secret",
		`SELECT id, 0 AS ref FROM tokens WHERE (secret_ciphertext IS NULL) <> (secret_key_id IS NULL)`},
	{"R10", "token", "a grace value outlives its token",
		`SELECT g.token_id AS id, 0 AS ref FROM token_grace_digests g LEFT JOIN tokens t ON t.id = g.token_id WHERE t.id IS NULL`},
}

// CheckInvariants re-checks the rules over the whole database and returns
// what breaks them. The rule checks are the rules' own
// (rules.TokenViolations, UserViolations, SessionViolations: the same
// package that decides every change judges the stored result); what is
// checked here in SQL is the shape of storage (orphans, digest and key-id
// shapes, grace values).
//
// Not checked, because the design allows it in storage: enabled tokens of a
// disabled company (authentication refuses them, and they work again when
// the company is re-enabled), and disabled tokens past the purge retention
// (a job's schedule, R14).
//
// Expiry is judged against the store's clock: an enabled token past its
// expiry is refused at once but only marked disabled when the maintenance
// job runs, so run DisableExpired first on a live database. It holds no lock:
// run it on a quiet database (the soak does, at its end) or expect to see
// changes in flight.
func (s *Store) CheckInvariants(ctx context.Context) ([]Violation, error) {
	db := s.db.WithContext(ctx)
	now := s.now().UTC()
	var out []Violation
	for _, c := range sqlInvariants {
		var rows []struct {
			ID  int64
			Ref *int64
		}
		if err := db.Raw(c.query).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("check %s (%s): %w", c.rule, c.detail, translate(err))
		}
		for _, r := range rows {
			detail := c.detail
			if r.Ref != nil && strings.Contains(detail, "%") {
				detail = fmt.Sprintf(detail, *r.Ref)
			}
			out = append(out, Violation{Rule: c.rule, Kind: c.kind, ID: r.ID, Detail: detail})
		}
	}

	var grace []struct {
		TokenID   int64
		ExpiresAt time.Time
		RenewedAt *time.Time
	}
	if err := db.Raw(`SELECT g.token_id, g.expires_at, t.renewed_at FROM token_grace_digests g
		JOIN tokens t ON t.id = g.token_id ORDER BY g.token_id`).Scan(&grace).Error; err != nil {
		return nil, translate(err)
	}
	for _, g := range grace {
		if g.RenewedAt == nil || g.ExpiresAt.After(g.RenewedAt.Add(rules.MaxGrace)) {
			out = append(out, Violation{Rule: "R10", Kind: "token", ID: g.TokenID,
				Detail: fmt.Sprintf("old value works until %s, more than %s after the last renewal", g.ExpiresAt.UTC(), rules.MaxGrace)})
		}
	}

	users := map[int64]*User{}
	var us []User
	if err := db.Order("id").Find(&us).Error; err != nil {
		return nil, translate(err)
	}
	for i := range us {
		users[us[i].ID] = &us[i]
		out = append(out, rules.UserViolations(&us[i])...)
	}
	clients := map[int64]*Client{}
	var cs []Client
	if err := db.Order("id").Find(&cs).Error; err != nil {
		return nil, translate(err)
	}
	for i := range cs {
		clients[cs[i].ID] = &cs[i]
	}
	var sessions []Session
	if err := db.Order("id").Find(&sessions).Error; err != nil {
		return nil, translate(err)
	}
	for i := range sessions {
		if u := users[sessions[i].UserID]; u != nil {
			out = append(out, rules.SessionViolations(&sessions[i], u)...)
		}
	}
	for after := int64(0); ; {
		var batch []Token
		if err := db.Where("id > ?", after).Order("id").Limit(1000).Find(&batch).Error; err != nil {
			return out, translate(err)
		}
		if len(batch) == 0 {
			return out, nil
		}
		after = batch[len(batch)-1].ID
		for i := range batch {
			t := &batch[i]
			var owner *User
			if t.UserID != nil {
				owner = users[*t.UserID]
			}
			out = append(out, rules.TokenViolations(t, owner, clients[t.ClientID], now)...)
		}
	}
}
