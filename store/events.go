package store

import (
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/identity"
	"github.com/tokend/tokend/internal/rules"
)

// writes remembers which objects an Apply already wrote.
type writes map[any]bool

// tokenColumns are the token columns a decision can change. last_used_at
// and last_used_ip are not among them: the usage flush writes those without
// a lock, and a decision must not turn them back.
var tokenColumns = []string{"realname", "permissions", "source_role", "enabled", "expire_at", "disabled_at",
	"disabled_reason", "updated_at", "renewed_at", "backward_compatible", "legacy_id", "hint", "digest",
	"digest_key_id", "secret_ciphertext", "secret_key_id", "expiry_notified_at", "rate_limit", "rate_window_seconds"}

var userColumns = []string{"email", "email_skeleton", "realname", "role", "enabled", "sso", "api_access", "password_hash",
	"password_one_time", "updated_at"}

// write applies the state change one event stands for.
func (tx *Tx) write(ev rules.Event, w writes) error {
	switch e := ev.(type) {
	case rules.TokenCreated:
		return tx.insertToken(e.Token, w)
	case rules.LegacyImported:
		return tx.insertToken(e.Token, w)
	case rules.TokenChanged:
		return tx.saveToken(e.Token, w)
	case rules.TokenEnabled:
		return tx.saveToken(e.Token, w)
	case rules.TokenDisabled:
		return tx.saveToken(e.Token, w)
	case rules.TokenStripped:
		return tx.saveToken(e.Token, w)
	case rules.CompatibilityEnded:
		return tx.saveToken(e.Token, w)
	case rules.TokenRenewed:
		if err := tx.saveToken(e.Token, w); err != nil {
			return err
		}
		tx.ch.Digests = append(tx.ch.Digests, e.Token.Digest)
		if e.OldValueUntil.IsZero() {
			return nil
		}
		return translate(tx.db.Create(&GraceDigest{Digest: e.OldDigest, TokenID: e.Token.ID, ExpiresAt: e.OldValueUntil.UTC()}).Error)
	case rules.TokenLeakReported:
		// A renewed token's old value that is reported is ended too.
		if len(e.Digests) > 0 {
			return translate(tx.db.Where("digest IN ?", e.Digests).Delete(&GraceDigest{}).Error)
		}
		return nil
	case rules.TokenDeleted:
		return tx.deleteToken(e.Token)
	case rules.TokenPurged:
		return tx.deleteToken(e.Token)
	case rules.UserCreated:
		withSkeleton(e.User)
		if err := translate(tx.db.Create(e.User).Error); err != nil {
			return err
		}
		w[e.User] = true
		return nil
	case rules.UserChanged:
		return tx.saveUser(e.User, w)
	case rules.PasswordReset:
		return tx.saveUser(e.User, w)
	case rules.PasswordChanged:
		return tx.saveUser(e.User, w)
	case rules.SessionsEnded:
		return translate(tx.db.Where("user_id = ? AND id <> ?", e.User.ID, e.Except).Delete(&Session{}).Error)
	case rules.TokenValuesDropped:
		return translate(tx.db.Model(&Token{}).Where("user_id = ? AND NOT shared", e.User.ID).
			UpdateColumns(map[string]any{"secret_ciphertext": nil, "secret_key_id": nil}).Error)
	case rules.UserDeleted:
		tx.ch.UserIDs = append(tx.ch.UserIDs, e.User.ID)
		// Explicit deletes keep SQLite honest even where foreign keys are off.
		for _, q := range []*gorm.DB{
			tx.db.Where("token_id IN (SELECT id FROM tokens WHERE user_id = ? AND NOT shared)", e.User.ID).Delete(&GraceDigest{}),
			tx.db.Where("user_id = ? AND NOT shared", e.User.ID).Delete(&Token{}),
			tx.db.Where("user_id = ?", e.User.ID).Delete(&Session{}),
			tx.db.Delete(&User{}, e.User.ID),
		} {
			if q.Error != nil {
				return translate(q.Error)
			}
		}
		return nil
	case rules.ClientCreated:
		if e.Client.ParentID != nil {
			// The partner's scope grew (R18): its cached company list goes.
			tx.ch.ClientIDs = append(tx.ch.ClientIDs, *e.Client.ParentID)
		}
		return translate(tx.db.Create(e.Client).Error)
	case rules.ClientChanged:
		tx.ch.ClientIDs = append(tx.ch.ClientIDs, e.Client.ID)
		return updatedOne(tx.db.Model(e.Client).Select("name", "enabled", "updated_at", "rate_limit", "rate_window_seconds").UpdateColumns(e.Client))
	case rules.ClientDeleted:
		return tx.deleteClient(e.Client)
	case rules.TokenValueRead, rules.TokenValueReadDenied:
		return nil
	default:
		return fmt.Errorf("store: no way to apply %T", ev)
	}
}

// deleteClient deletes a tenant and everything of it (rules.DeleteClient):
// explicit deletes, child rows first, so that SQLite without foreign keys
// and PostgreSQL agree. The activity log keeps its lines.
func (tx *Tx) deleteClient(c *Client) error {
	tx.ch.ClientIDs = append(tx.ch.ClientIDs, c.ID)
	var userIDs []int64
	if err := tx.db.Model(&User{}).Where("client_id = ?", c.ID).Pluck("id", &userIDs).Error; err != nil {
		return translate(err)
	}
	tx.ch.UserIDs = append(tx.ch.UserIDs, userIDs...)
	users := tx.db.Model(&User{}).Select("id").Where("client_id = ?", c.ID)
	tokens := tx.db.Model(&Token{}).Select("id").Where("client_id = ? OR user_id IN (?)", c.ID, users)
	var tokenIDs []int64
	if err := tx.db.Model(&Token{}).Where("client_id = ? OR user_id IN (?)", c.ID, users).Pluck("id", &tokenIDs).Error; err != nil {
		return translate(err)
	}
	tx.ch.TokenIDs = append(tx.ch.TokenIDs, tokenIDs...)
	webhooks := tx.db.Model(&Webhook{}).Select("id").Where("client_id = ?", c.ID)
	for _, q := range []*gorm.DB{
		tx.db.Where("client_id = ?", c.ID).Delete(&Node{}),
		tx.db.Where("token_id IN (?)", tokens).Delete(&GraceDigest{}),
		tx.db.Where("client_id = ? OR user_id IN (?)", c.ID, users).Delete(&Token{}),
		tx.db.Where("user_id IN (?)", users).Delete(&Session{}),
		tx.db.Where("webhook_id IN (?)", webhooks).Delete(&Delivery{}),
		tx.db.Where("client_id = ?", c.ID).Delete(&Webhook{}),
		tx.db.Where("client_id = ?", c.ID).Delete(&User{}),
	} {
		if q.Error != nil {
			return translate(q.Error)
		}
	}
	return updatedOne(tx.db.Delete(&Client{}, c.ID))
}

func (tx *Tx) insertToken(t *Token, w writes) error {
	if err := tx.db.Create(t).Error; err != nil {
		return translate(err)
	}
	w[t] = true
	tx.ch.Digests = append(tx.ch.Digests, t.Digest)
	return nil
}

func (tx *Tx) saveToken(t *Token, w writes) error {
	if w[t] {
		return nil
	}
	w[t] = true
	tx.ch.TokenIDs = append(tx.ch.TokenIDs, t.ID)
	// UpdateColumns, not Save: Save would replace updated_at with GORM's
	// own clock; the rules decided it.
	return updatedOne(tx.db.Model(t).Select(tokenColumns).UpdateColumns(t))
}

func (tx *Tx) deleteToken(t *Token) error {
	tx.ch.TokenIDs = append(tx.ch.TokenIDs, t.ID)
	if err := tx.db.Where("token_id = ?", t.ID).Delete(&GraceDigest{}).Error; err != nil {
		return translate(err)
	}
	return updatedOne(tx.db.Delete(&Token{}, t.ID))
}

func (tx *Tx) saveUser(u *User, w writes) error {
	if w[u] {
		return nil
	}
	w[u] = true
	tx.ch.UserIDs = append(tx.ch.UserIDs, u.ID)
	return updatedOne(tx.db.Model(u).Select(userColumns).UpdateColumns(u))
}

// updatedOne checks the result of a write to a row read under lock. A Save
// with Select is an UPDATE … WHERE id = ? and never an insert; should the
// row be gone all the same (a purge or delete that got there first), the
// answer is ErrNotFound, not a success that changed nothing, and the
// transaction records no event.
func updatedOne(res *gorm.DB) error {
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// record writes the activity-log line of an event and the webhook
// deliveries it causes, attributed to the context's actor.
func (tx *Tx) record(ev rules.Event) error {
	a, ok := activityOf(ev)
	if !ok {
		return nil
	}
	return tx.recordActivity(ev, a)
}

func (tx *Tx) recordActivity(ev rules.Event, a Event) error {
	if err := tx.s.record(tx.ctx, tx.db, a); err != nil {
		return err
	}
	if hook := webhookEventOf(ev); hook != "" && a.TokenID != nil {
		return tx.s.enqueueDeliveries(tx.db, hook, a.ClientID, *a.TokenID, a.Details)
	}
	return nil
}

// activityOf is the activity-log line of an event (the spec's
// ActivityAction); ok is false for events the log does not show on their
// own (their facts are in another event's line).
func activityOf(ev rules.Event) (Event, bool) {
	switch e := ev.(type) {
	case rules.TokenCreated:
		return tokenEvent(ActionTokenCreate, e.Token, Details{"permissions": joinNames(e.Token.Permissions),
			"shared": fmt.Sprint(e.Token.Shared), "enabled": fmt.Sprint(e.Token.Enabled)}), true
	case rules.LegacyImported:
		return tokenEvent(ActionUserLegacyImport, e.Token, Details{"legacy_uuid": e.LegacyUUID}), true
	case rules.TokenChanged:
		return tokenEvent(ActionTokenUpdate, e.Token, Details{"fields": joinNames(e.Fields)}), true
	case rules.TokenEnabled:
		return tokenEvent(ActionTokenEnable, e.Token, nil), true
	case rules.TokenDisabled:
		d := Details{"reason": string(e.Reason)}
		switch e.Reason {
		case rules.ReasonManual:
			return tokenEvent(ActionTokenDisable, e.Token, d), true
		case rules.ReasonExpired:
			d["expire_at"] = e.Token.ExpireAt.UTC().Format(time.RFC3339)
			return tokenEvent(ActionTokenExpire, e.Token, d), true
		case rules.ReasonLeaked:
			return Event{}, false // the token.leaked line says so
		default:
			return tokenEvent(ActionTokenOwnerCascade, e.Token, d), true
		}
	case rules.TokenStripped:
		return tokenEvent(ActionTokenOwnerCascade, e.Token, Details{"reason": "role_reduced",
			"removed": joinNames(e.Removed), "old_role": e.OldRole, "new_role": e.NewRole}), true
	case rules.CompatibilityEnded:
		if e.Cause == "renewed" {
			return Event{}, false // the token.renew line says so
		}
		return tokenEvent(ActionTokenOwnerCascade, e.Token, Details{"reason": e.Cause}), true
	case rules.TokenRenewed:
		return tokenEvent(ActionTokenRenew, e.Token, Details{"grace_period": e.Grace.String()}), true
	case rules.TokenValueRead:
		return tokenEvent(ActionTokenSecretRead, e.Token, nil), true
	case rules.TokenValueReadDenied:
		return tokenEvent(ActionTokenSecretReadDenied, e.Token, Details{"refusal": string(e.Code)}), true
	case rules.TokenDeleted:
		return tokenEvent(ActionTokenDelete, e.Token, nil), true
	case rules.TokenPurged:
		d := Details{}
		if e.Token.DisabledAt != nil {
			d["disabled_at"] = e.Token.DisabledAt.UTC().Format(time.RFC3339)
		}
		return tokenEvent(ActionTokenPurge, e.Token, d), true
	case rules.TokenLeakReported:
		d := Details{"was_enabled": fmt.Sprint(e.WasEnabled)}
		if e.Source != "" {
			d["source"] = e.Source
		}
		return tokenEvent(ActionTokenLeaked, e.Token, d), true
	case rules.UserCreated:
		return userEvent(ActionUserCreate, e.User, Details{"role": e.User.Role}), true
	case rules.UserChanged:
		d := Details{"fields": joinNames(e.Fields)}
		if e.OldRole != "" {
			d["old_role"], d["new_role"] = e.OldRole, e.NewRole
		}
		if containsName(e.Fields, "enabled") {
			d["enabled"] = fmt.Sprint(e.User.Enabled)
		}
		return userEvent(ActionUserUpdate, e.User, d), true
	case rules.PasswordReset:
		return userEvent(ActionUserPasswordReset, e.User, nil), true
	case rules.PasswordChanged:
		return userEvent(ActionUserPasswordChange, e.User, nil), true
	case rules.UserDeleted:
		return userEvent(ActionUserDelete, e.User, Details{"email": e.User.Email, "role": e.User.Role,
			"tokens_deleted": fmt.Sprint(e.Tokens)}), true
	case rules.ClientCreated:
		return Event{ClientID: e.Client.ID, Action: ActionClientCreate, Details: Details{"name": e.Client.Name}}, true
	case rules.ClientDeleted:
		// In the partner's log: the tenant's own lines are out of
		// everybody's scope once it is gone.
		partner := e.Client.ID
		if e.Client.ParentID != nil {
			partner = *e.Client.ParentID
		}
		return Event{ClientID: partner, Action: ActionClientDelete, Details: Details{"deleted_client_id": fmt.Sprint(e.Client.ID),
			"name": e.Client.Name, "users_deleted": fmt.Sprint(e.Contents.Users),
			"tokens_deleted": fmt.Sprint(e.Contents.Tokens), "nodes_deleted": fmt.Sprint(e.Contents.Nodes)}}, true
	case rules.ClientChanged:
		return Event{ClientID: e.Client.ID, Action: ActionClientUpdate, Details: Details{"fields": joinNames(e.Fields),
			"name": e.Client.Name, "enabled": fmt.Sprint(e.Client.Enabled)}}, true
	}
	return Event{}, false
}

// webhookEventOf is the webhook event an event announces, if any (the
// spec's WebhookEvent).
func webhookEventOf(ev rules.Event) string {
	switch e := ev.(type) {
	case rules.TokenDisabled:
		switch e.Reason {
		case rules.ReasonExpired:
			return EventTokenExpired
		case rules.ReasonLeaked:
			return "" // token.leaked announces it
		}
		return EventTokenDisabled
	case rules.TokenRenewed:
		return EventTokenRenewed
	case rules.TokenLeakReported:
		return EventTokenLeaked
	}
	return ""
}

func tokenEvent(action string, t *Token, details Details) Event {
	id := t.ID
	return Event{ClientID: t.ClientID, Action: action, TokenID: &id, UserID: t.UserID, Details: details}
}

func userEvent(action string, u *User, details Details) Event {
	id := u.ID
	return Event{ClientID: u.ClientID, Action: action, UserID: &id, Details: details}
}

func joinNames(names []string) string { return strings.Join(names, ",") }

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

// withSkeleton gives a user about to be stored the confusable skeleton of
// its address when the caller did not (seeding tools, bootstrap): the
// unique index on it is what keeps look-alike accounts out.
func withSkeleton(u *User) {
	if u.EmailSkeleton == nil {
		canonical, err := identity.CanonicalEmail(u.Email)
		if err != nil {
			canonical = strings.ToLower(u.Email)
		}
		sk := identity.Skeleton(canonical)
		u.EmailSkeleton = &sk
	}
}
