package server

import (
	"github.com/alexedwards/argon2id"
)

// passwordParams follow OWASP's minimum for argon2id (19 MiB, 2 passes, 1
// lane): slow enough to hurt guessing, fast enough for a sign-in.
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func hashPassword(pw string) (string, error) { return argon2id.CreateHash(pw, passwordParams) }

// dummyHash is compared against when the e-mail is unknown, so that a
// sign-in takes as long whether or not the user exists.
var dummyHash, _ = argon2id.CreateHash("tokend-no-such-user", passwordParams)

// passwordMatches compares in constant time (argon2id uses subtle).
func passwordMatches(pw string, hash *string) bool {
	h := dummyHash
	if hash != nil {
		h = *hash
	}
	ok, err := argon2id.ComparePasswordAndHash(pw, h)
	return ok && err == nil && hash != nil
}
