package server

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// The hand-written token page is what encoding/json makes of the generated
// model, for tokens of every shape: enabled and disabled (with and without
// a reason), shared and personal, backward-compatible, with and without
// each optional field, and names with every character JSON escapes.
func TestTokenJSONMatchesTheModel(t *testing.T) {
	s := &Server{cfg: Config{DisabledRetention: 7 * 24 * time.Hour}}
	strs := rapid.OneOf(rapid.String(), rapid.SampledFrom([]string{"", "a<b>&c", "quote\"back\\slash", "\n\t\r\x00\x1f",
		"\u2028\u2029", "é🔑", "\xff\xfe invalid", "tkd_AbCd…wxyz"}))
	when := rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64Range(0, 4_102_444_800).Draw(t, "sec"), rapid.Int64Range(0, 999_999_999).Draw(t, "nsec")).
			In(time.FixedZone("x", rapid.IntRange(-12, 12).Draw(t, "zone")*3600))
	})
	optTime := func(t *rapid.T, label string) *time.Time {
		if rapid.Bool().Draw(t, label+" set") {
			v := when.Draw(t, label)
			return &v
		}
		return nil
	}
	optInt := func(t *rapid.T, label string) *int64 {
		if rapid.Bool().Draw(t, label+" set") {
			v := rapid.Int64().Draw(t, label)
			return &v
		}
		return nil
	}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 4).Draw(t, "rows")
		rows := make([]store.Token, n)
		for i := range rows {
			tok := store.Token{
				ID: rapid.Int64().Draw(t, "id"), ClientID: rapid.Int64().Draw(t, "client"), UserID: optInt(t, "user"),
				Shared: rapid.Bool().Draw(t, "shared"), Realname: strs.Draw(t, "name"),
				Permissions: rapid.SliceOfN(strs, 0, 5).Draw(t, "permissions"), SourceRole: strs.Draw(t, "source"),
				Enabled: rapid.Bool().Draw(t, "enabled"), ExpireAt: optTime(t, "expire"), DisabledAt: optTime(t, "disabled"),
				DisabledReason: rules.DisabledReason(rapid.SampledFrom([]string{"", "manual", "expired", "leak_reported"}).Draw(t, "reason")),
				CreatedAt:      when.Draw(t, "created"), UpdatedAt: when.Draw(t, "updated"), RenewedAt: optTime(t, "renewed"),
				CreatedBy: optInt(t, "created by"), LastUsedAt: optTime(t, "used"), BackwardCompatible: rapid.Bool().Draw(t, "legacy"),
				Hint: strs.Draw(t, "hint"),
			}
			if rapid.Bool().Draw(t, "nil permissions") {
				tok.Permissions = nil
			}
			if rapid.Bool().Draw(t, "ip set") {
				ip := strs.Draw(t, "ip")
				tok.LastUsedIP = &ip
			}
			if rapid.Bool().Draw(t, "rate set") {
				r, w := rapid.IntRange(0, 1<<31-1).Draw(t, "requests"), rapid.IntRange(0, 1<<31-1).Draw(t, "window")
				tok.RateLimit = rules.RateLimit{Requests: &r, Window: &w}
			}
			rows[i] = tok
		}
		var cursor *string
		if rapid.Bool().Draw(t, "cursor set") {
			c := strs.Draw(t, "cursor")
			cursor = &c
		}
		got := s.tokenPageJSON(rows, cursor)
		var want bytes.Buffer
		model := api.TokenList{Items: mapSlice(rows, s.apiToken), NextCursor: nullOf(cursor)}
		if err := json.NewEncoder(&want).Encode(model); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) { // byte for byte, escapes and member order included
			t.Fatalf("hand-written:\n%s\nencoding/json:\n%s", got, want.Bytes())
		}
	})
}
