package store_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// The outbox: an event a webhook announces becomes one pending delivery
// per enabled webhook of the token's company subscribed to it, written in
// the same transaction, with a payload that describes the token and never
// carries its value.
func TestContractDeliveriesEnqueued(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		other := w.company("Other", nil)
		admin := w.user(c, perm.RoleAdmin)
		ac := caller(admin, c)
		every := []string{store.EventTokenDisabled, store.EventTokenExpired, store.EventTokenRenewed, store.EventTokenLeaked}
		subscribed := w.webhook(c, true, every...)
		disabledHook := w.webhook(c, false, every...)
		renewOnly := w.webhook(c, true, store.EventTokenRenewed)
		elsewhere := w.webhook(other, true, every...)
		tok := w.personal(admin, c)

		// Creating, renaming and reading values announce nothing.
		_, err := w.updateToken(w.ctx, ac, tok.ID, rules.TokenChange{Realname: ref("n")})
		w.must(err)
		if d := w.deliveries(subscribed.ID); len(d) != 0 {
			t.Fatalf("creation and rename enqueued %+v", d)
		}
		_, err = w.updateToken(w.ctx, ac, tok.ID, rules.TokenChange{Enabled: ref(false)})
		w.must(err)
		_, err = w.updateToken(w.ctx, ac, tok.ID, rules.TokenChange{Enabled: ref(true), ExpireSet: true})
		w.must(err)
		w.renew(w.ctx, ac, tok.ID, time.Minute)
		events := func(h *store.Webhook) []string {
			var out []string
			for _, d := range w.deliveries(h.ID) {
				out = append(out, d.Event)
			}
			return out
		}
		if got := events(subscribed); !slices.Equal(got, []string{store.EventTokenDisabled, store.EventTokenRenewed}) {
			t.Errorf("subscribed webhook got %v", got)
		}
		if got := events(renewOnly); !slices.Equal(got, []string{store.EventTokenRenewed}) {
			t.Errorf("renew-only webhook got %v", got)
		}
		if got := events(disabledHook); len(got) != 0 {
			t.Errorf("a disabled webhook got %v", got)
		}
		if got := events(elsewhere); len(got) != 0 {
			t.Errorf("another company's webhook got %v", got)
		}
		d := w.deliveries(subscribed.ID)[0]
		if d.Status != store.DeliveryPending || d.Attempts != 0 || d.ClientID != c.ID || d.NextAttemptAt == nil ||
			!d.NextAttemptAt.Equal(epoch) || !d.CreatedAt.Equal(epoch) || d.DeliveredAt != nil {
			t.Errorf("delivery %+v", d)
		}
		var p store.EventPayload
		w.must(json.Unmarshal([]byte(d.Payload), &p))
		if p.Event != store.EventTokenDisabled || p.ClientID != c.ID || !p.CreatedAt.Equal(epoch) || p.Token == nil ||
			p.Token.ID != tok.ID || p.Token.Realname != "n" || p.Token.Enabled || p.Token.Shared || p.Token.Hint != tok.Hint ||
			p.Token.UserID == nil || *p.Token.UserID != admin.ID || p.Details["reason"] != "manual" {
			t.Errorf("payload %s", d.Payload)
		}
		var raw map[string]any
		w.must(json.Unmarshal([]byte(d.Payload), &raw))
		for _, k := range []string{"digest", "secret_ciphertext", "value"} {
			if _, ok := raw["token"].(map[string]any)[k]; ok {
				t.Errorf("payload carries %s", k)
			}
		}
	})
}

// Webhooks through the store's API, in scope: created, read, listed,
// changed and deleted (with their deliveries) inside it; ErrNotFound
// outside, and a refused change changes nothing.
func TestContractWebhookCRUD(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		partner := w.company("Partner", nil)
		tenant := w.company("Tenant", partner)
		other := w.company("Other", nil)
		admin := w.user(tenant, perm.RoleAdmin)
		h := w.webhook(tenant, true, store.EventTokenDisabled)
		if h.ID == 0 || !h.CreatedAt.Equal(epoch) || !h.UpdatedAt.Equal(epoch) {
			t.Fatalf("created %+v", h)
		}
		in, out := store.Scope{ClientID: partner.ID, Global: true}, store.Scope{ClientID: other.ID}
		got, err := w.st.GetWebhook(w.ctx, in, h.ID)
		w.must(err)
		if got.URL != h.URL || !slices.Equal(got.Events, h.Events) || !got.Enabled || string(got.SecretCiphertext) != "sealed hook key" || got.SecretKeyID != "k1" {
			t.Errorf("read %+v", got)
		}
		_, err = w.st.GetWebhook(w.ctx, out, h.ID)
		wantNotFound(t, "GetWebhook out of scope", err)
		_, err = w.st.UpdateWebhook(w.ctx, out, h.ID, func(*store.Webhook) error { t.Error("change ran out of scope"); return nil })
		wantNotFound(t, "UpdateWebhook out of scope", err)
		wantNotFound(t, "DeleteWebhook out of scope", w.st.DeleteWebhook(w.ctx, out, h.ID))

		w.clock.Advance(time.Minute)
		changed, err := w.st.UpdateWebhook(w.ctx, in, h.ID, func(h *store.Webhook) error {
			h.URL, h.Events, h.Enabled = "https://new.example.com/hook", []string{store.EventTokenLeaked, store.EventTokenExpired}, false
			h.ClientID = other.ID // not a column a change may move
			return nil
		})
		w.must(err)
		got, err = w.st.GetWebhook(w.ctx, store.Scope{ClientID: tenant.ID}, h.ID)
		w.must(err)
		if got.URL != "https://new.example.com/hook" || !slices.Equal(got.Events, []string{store.EventTokenLeaked, store.EventTokenExpired}) ||
			got.Enabled || got.ClientID != tenant.ID {
			t.Errorf("changed %+v", got)
		}
		updatedAt := got.UpdatedAt // checked last: see the skip at the end
		refused := errors.New("refused")
		_, err = w.st.UpdateWebhook(w.ctx, in, h.ID, func(h *store.Webhook) error { h.URL = "https://evil.example.com"; return refused })
		if !errors.Is(err, refused) {
			t.Errorf("refused change: err = %v", err)
		}
		if got, _ := w.st.GetWebhook(w.ctx, in, h.ID); got.URL != "https://new.example.com/hook" {
			t.Errorf("a refused change was saved: %s", got.URL)
		}

		// A delivery, then the delete takes it along.
		w.must(w.st.DB().Model(&store.Webhook{}).Where("id = ?", h.ID).Update("enabled", true).Error)
		tok := w.personal(admin, tenant)
		w.must(w.st.ReportLeak(w.ctx, [][]byte{tok.Digest}, "test"))
		if len(w.deliveries(h.ID)) != 1 {
			t.Fatalf("no delivery to delete with the webhook")
		}
		w.must(w.st.DeleteWebhook(w.ctx, in, h.ID))
		_, err = w.st.GetWebhook(w.ctx, in, h.ID)
		wantNotFound(t, "deleted webhook", err)
		if len(w.deliveries(h.ID)) != 0 {
			t.Error("deliveries outlive their webhook")
		}
		wantNotFound(t, "second delete", w.st.DeleteWebhook(w.ctx, in, h.ID))
		if decided := epoch.Add(time.Minute); !updatedAt.Equal(decided) || !changed.UpdatedAt.Equal(decided) {
			t.Errorf("UpdateWebhook sets updated_at to the store clock's %v, but saves %v and returns %v "+
				"(GORM's autoUpdateTime overwrites it with the wall clock on Save)", decided, updatedAt, changed.UpdatedAt)
		}
	})
}

// The dispatcher's claims: due pending deliveries, oldest due first, at
// most limit, each leased so that it is not claimed again until the lease
// ends; finished ones are never claimed again.
func TestContractClaimDueDeliveries(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		h1 := w.webhook(c, true, store.EventTokenLeaked)
		h2 := w.webhook(c, true, store.EventTokenLeaked)
		var due []int64
		for i := 0; i < 3; i++ {
			tok := w.personal(admin, c)
			w.must(w.st.ReportLeak(w.ctx, [][]byte{tok.Digest}, "test"))
			for _, d := range append(w.deliveries(h1.ID), w.deliveries(h2.ID)...) {
				if !slices.Contains(due, d.ID) {
					due = append(due, d.ID)
				}
			}
			w.clock.Advance(time.Second)
		}
		if len(due) != 6 {
			t.Fatalf("%d deliveries", len(due))
		}
		lease := time.Minute
		// Claims come one at a time (a slow receiver holds only its own).
		claim := func(limit int) ([]int64, map[int64]*store.Webhook) {
			t.Helper()
			var got []int64
			hooks := map[int64]*store.Webhook{}
			for len(got) < limit {
				d, h, err := w.st.ClaimDueDelivery(w.ctx, lease)
				w.must(err)
				if d == nil {
					break
				}
				if h == nil || h.ID != d.WebhookID || d.Claim == nil {
					t.Errorf("claim of delivery %d lacks its webhook or claim id", d.ID)
				}
				hooks[d.WebhookID] = h
				got = append(got, d.ID)
			}
			return got, hooks
		}
		first, hooks := claim(4)
		if len(first) != 4 || len(hooks) != 2 {
			t.Fatalf("claimed %v with %d webhooks, want 4 with 2", first, len(hooks))
		}
		leasedUntil := w.now().Add(lease)
		var leased store.Delivery
		w.must(w.st.DB().Take(&leased, first[0]).Error)
		if leased.NextAttemptAt == nil || !leased.NextAttemptAt.Equal(leasedUntil) || leased.Status != store.DeliveryPending {
			t.Errorf("leased delivery %+v, want next attempt at %v", leased, leasedUntil)
		}
		rest, _ := claim(10)
		if !sameIDs(append(slices.Clone(first), rest...), due) || len(rest) != 2 {
			t.Errorf("second claim %v: want the two not yet leased", rest)
		}
		if again, _ := claim(10); len(again) != 0 {
			t.Errorf("leased deliveries claimed again: %v", again)
		}

		// One attempt delivered, one failed for good, one to retry later.
		now := w.now()
		finish := func(id int64, status string, code int, next *time.Time, delivered *time.Time, lastErr *string) {
			ok, err := w.st.FinishDelivery(w.ctx, &store.Delivery{ID: id, Status: status, Attempts: 1, ResponseStatus: &code,
				NextAttemptAt: next, DeliveredAt: delivered, LastError: lastErr})
			w.must(err)
			if !ok {
				t.Errorf("finishing delivery %d changed nothing", id)
			}
		}
		retryAt := now.Add(2 * lease)
		finish(first[0], store.DeliveryDelivered, 200, nil, &now, nil)
		finish(first[1], store.DeliveryFailed, 410, nil, nil, ref("gone"))
		finish(first[2], store.DeliveryPending, 503, &retryAt, nil, ref("unavailable"))
		var got store.Delivery
		w.must(w.st.DB().Take(&got, first[0]).Error)
		if got.Status != store.DeliveryDelivered || got.Attempts != 1 || got.ResponseStatus == nil || *got.ResponseStatus != 200 ||
			got.DeliveredAt == nil || !got.DeliveredAt.Equal(now) || got.NextAttemptAt != nil || got.LastError != nil {
			t.Errorf("finished delivery %+v", got)
		}
		var retried store.Delivery
		w.must(w.st.DB().Take(&retried, first[2]).Error)
		if got := retried; got.LastError == nil || *got.LastError != "unavailable" || !got.NextAttemptAt.Equal(retryAt) {
			t.Errorf("retried delivery %+v", got)
		}

		w.clock.Advance(lease) // the leases end; the retry is not due yet
		again, _ := claim(10)
		want := append([]int64{first[3]}, rest...)
		if !sameIDs(again, want) {
			t.Errorf("after the lease: claimed %v, want %v", again, want)
		}
		w.clock.Advance(lease)
		if again, _ := claim(10); !slices.Contains(again, first[2]) || slices.Contains(again, first[0]) || slices.Contains(again, first[1]) {
			t.Errorf("after the retry time: claimed %v, want the retry and never the finished ones", again)
		}
	})
}

// "Expires soon": enabled tokens expiring within the notice period that
// lived at least that long are noticed once, with who to tell (the owner of
// a personal token; the enabled administrators of the company for a shared
// one) and a token.expiring delivery; a token created to live less than
// the period is marked without a notice.
func TestContractNoticeExpiring(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		other := w.company("Other", nil)
		admin := w.user(c, perm.RoleAdmin)
		global := w.user(c, perm.RolePartnerAdmin)
		w.user(c, perm.RoleAdmin, func(u *store.User) { u.Enabled = false })
		w.user(c, perm.RoleAnalytic)
		w.user(other, perm.RoleAdmin)
		hook := w.webhook(c, true, store.EventTokenExpiring)
		ahead := 72 * time.Hour
		at := func(d time.Duration) *time.Time { return ref(w.now().Add(d)) }
		personal := w.issue(caller(admin, c), rules.NewTokenRequest{Permissions: []string{"admin"}, ExpireAt: at(10 * 24 * time.Hour)})
		sharedTok := w.issue(caller(admin, c), rules.NewTokenRequest{Permissions: []string{"attacks:view"}, Shared: true, ExpireAt: at(9 * 24 * time.Hour)})
		far := w.issue(caller(admin, c), rules.NewTokenRequest{Permissions: []string{"admin"}, ExpireAt: at(30 * 24 * time.Hour)})
		never := w.personal(admin, c)
		w.clock.Advance(8 * 24 * time.Hour) // personal and shared now expire within 72 h
		short := w.issue(caller(admin, c), rules.NewTokenRequest{Permissions: []string{"admin"}, ExpireAt: at(48 * time.Hour)})
		before := w.row(sharedTok.ID)

		got, err := w.st.NoticeExpiring(w.ctx, ahead, 100)
		w.must(err)
		if len(got) != 2 {
			t.Fatalf("noticed %d tokens, want 2", len(got))
		}
		// Soonest expiry first.
		if got[0].Token.ID != sharedTok.ID || got[1].Token.ID != personal.ID {
			t.Errorf("noticed %d, %d; want the shared token then the personal one", got[0].Token.ID, got[1].Token.ID)
		}
		if r := ids(got[0].Recipients, userID); !sameIDs(r, []int64{admin.ID, global.ID}) {
			t.Errorf("shared token's recipients %v, want the enabled administrators %d, %d", r, admin.ID, global.ID)
		}
		if r := ids(got[1].Recipients, userID); !slices.Equal(r, []int64{admin.ID}) {
			t.Errorf("personal token's recipients %v, want its owner", r)
		}
		for _, id := range []int64{personal.ID, sharedTok.ID, short.ID} {
			if n := w.row(id).ExpiryNotifiedAt; n == nil || !n.Equal(w.now()) {
				t.Errorf("token %d not marked noticed at %v: %v", id, w.now(), str(n))
			}
		}
		for _, id := range []int64{far.ID, never.ID} {
			if w.row(id).ExpiryNotifiedAt != nil {
				t.Errorf("token %d, not expiring soon, was marked", id)
			}
		}
		d := w.deliveries(hook.ID)
		if len(d) != 2 || d[0].Event != store.EventTokenExpiring {
			t.Fatalf("deliveries %+v, want two token.expiring", d)
		}
		var p store.EventPayload
		w.must(json.Unmarshal([]byte(d[0].Payload), &p))
		if p.Token == nil || p.Token.ID != sharedTok.ID || p.Details["expire_at"] != sharedTok.ExpireAt.UTC().Format(time.RFC3339) {
			t.Errorf("payload %s", d[0].Payload)
		}
		if again, err := w.st.NoticeExpiring(w.ctx, ahead, 100); err != nil || len(again) != 0 {
			t.Errorf("second run noticed %d (%v), want none: once per expiry", len(again), err)
		}
		// A new expiry deserves a new notice (rules.UpdateToken resets the mark).
		_, err = w.updateToken(w.ctx, caller(admin, c), personal.ID, rules.TokenChange{ExpireSet: true, ExpireAt: at(24 * time.Hour)})
		w.must(err)
		if again, err := w.st.NoticeExpiring(w.ctx, ahead, 100); err != nil || len(again) != 1 || again[0].Token.ID != personal.ID {
			t.Errorf("after a new expiry: noticed %d (%v), want the personal token again", len(again), err)
		}
		if after := w.row(sharedTok.ID); !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("a notice changed the token's updated_at from %v to %v (GORM's Update sets updated_at to the wall clock)", before.UpdatedAt, after.UpdatedAt)
		}
	})
}
