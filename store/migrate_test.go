package store_test

import (
	"context"
	"testing"

	"github.com/tokend/tokend/internal/testenv"
)

// Migrations apply on both backends, reach the latest version, and are
// idempotent (serve runs them at every start).
func TestMigrationsUp(t *testing.T) {
	t.Parallel()
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		st := b.OpenStore(t)
		v, err := st.MigrationVersion(ctx)
		testenv.Must(t, err)
		if v < 1 {
			t.Fatalf("version = %d after migrate", v)
		}
		applied, err := st.Migrate(ctx)
		testenv.Must(t, err)
		if len(applied) != 0 {
			t.Fatalf("second migrate applied %v", applied)
		}
		for _, table := range []string{"clients", "users", "tokens", "token_grace_digests", "sessions", "nodes"} {
			if !st.DB().Migrator().HasTable(table) {
				t.Errorf("table %s missing", table)
			}
		}
	})
}
