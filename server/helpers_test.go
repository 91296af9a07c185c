package server_test

import (
	"log/slog"
	"time"

	"context"
	"encoding/json"
	"github.com/oapi-codegen/nullable"
	"slices"
	"testing"

	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/store"
)

// newRawToken inserts a personal token of the bootstrap admin straight into
// the store, for states the API cannot reach directly.
func newRawToken(t *testing.T, env *testenv.Env, name string) string {
	t.Helper()
	value, err := secret.NewAPIToken()
	testenv.Must(t, err)
	now := env.Clock.Now()
	uid := env.Admin.UserID
	tok := &store.Token{
		ClientID: env.Admin.ClientID, UserID: &uid, Realname: name,
		Permissions: []string{string(perm.RoleAdmin)}, SourceRole: "admin", Enabled: true,
		CreatedAt: now, UpdatedAt: now, Digest: env.Config.Keys.Digest(value), Hint: secret.Hint(value),
	}
	testenv.Must(t, env.Store.DB().WithContext(context.Background()).Create(tok).Error)
	return value
}

func unknownToken(t *testing.T) string {
	v, err := secret.NewAPIToken()
	testenv.Must(t, err)
	return v
}

// flipLast changes the last character, breaking the checksum.
func flipLast(s string) string {
	last := s[len(s)-1]
	if last == 'a' {
		return s[:len(s)-1] + "b"
	}
	return s[:len(s)-1] + "a"
}

func equalJSON(t *testing.T, a, b any) bool {
	ja, err := json.Marshal(a)
	testenv.Must(t, err)
	jb, err := json.Marshal(b)
	testenv.Must(t, err)
	return string(ja) == string(jb)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func ptr[T any](v T) *T { return &v }

func nullableTime(t time.Time) nullable.Nullable[time.Time] { return nullable.NewNullableWithValue(t) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// skipIfShort keeps the slow tests (browsers, races, timing, big corpora)
// out of `make test-fast` (go test -short); `make test` runs them all.
func skipIfShort(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s: skipped by -short; make test runs it", what)
	}
}
