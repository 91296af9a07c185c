package server

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"time"

	"github.com/alexedwards/argon2id"
)

// PasswordParams are the argon2id costs of new password hashes. The
// default follows OWASP's minimum (19 MiB, 2 passes, 1 lane): slow enough
// to hurt guessing, fast enough for a sign-in. Stored hashes carry their
// own parameters, so raising them later keeps old passwords working.
var PasswordParams = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// passwords hashes and compares with one cost, and a dummy hash of that
// cost for unknown e-mails, so that a sign-in takes as long whether or not
// the user exists.
type passwords struct {
	params *argon2id.Params
	dummy  string
}

func newPasswords(params *argon2id.Params) (passwords, error) {
	if params == nil {
		params = &PasswordParams
	}
	dummy, err := argon2id.CreateHash("tokend-no-such-user", params)
	return passwords{params: params, dummy: dummy}, err
}

// hashers bounds how many argon2id computations run at once (R23): each
// takes 19 MiB, so a flood of anonymous sign-ins must queue, not grow the
// process without bound. A request that cannot start one within
// hashWait gets 503.
type hashers chan struct{}

func newHashers() hashers { return make(hashers, max(2, runtime.GOMAXPROCS(0))) }

// hashWait is how long a request waits for a free hasher.
const hashWait = 2 * time.Second

var errHashersBusy = &Problem{Status: http.StatusServiceUnavailable, Kind: "unavailable",
	Detail: "too many sign-ins at once; try again shortly", Headers: map[string]string{"Retry-After": "1"}}

func (h hashers) do(ctx context.Context, f func()) error {
	wait := time.NewTimer(hashWait)
	defer wait.Stop()
	select {
	case h <- struct{}{}:
	case <-wait.C:
		return errHashersBusy
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errHashersBusy
		}
		return ctx.Err()
	}
	defer func() { <-h }()
	f()
	return nil
}

func (s *Server) hashPassword(ctx context.Context, pw string) (hash string, err error) {
	if herr := s.hashers.do(ctx, func() { hash, err = argon2id.CreateHash(pw, s.passwords.params) }); herr != nil {
		return "", herr
	}
	return hash, err
}

// passwordMatches compares in constant time (argon2id uses subtle); a nil
// hash (no such user, no password) is compared against the dummy and never
// matches.
func (s *Server) passwordMatches(ctx context.Context, pw string, hash *string) (bool, error) {
	h := s.passwords.dummy
	if hash != nil {
		h = *hash
	}
	var ok bool
	var err error
	if herr := s.hashers.do(ctx, func() { ok, err = argon2id.ComparePasswordAndHash(pw, h) }); herr != nil {
		return false, herr
	}
	return ok && err == nil && hash != nil, nil
}

// HashPassword is the hash tokend stores for a password at the default
// cost (for tools that seed users directly).
func HashPassword(pw string) (string, error) { return argon2id.CreateHash(pw, &PasswordParams) }
