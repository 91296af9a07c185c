package store_test

import (
	"errors"
	"testing"

	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// Webhook signing keys rotate the same way, in one transaction.
func TestContractReencryptWebhookSecrets(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
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
			t.Errorf("a failed webhook rotation (one transaction, rolled back) reports %d re-sealed, want 0", failedDone)
		}
	})
}
