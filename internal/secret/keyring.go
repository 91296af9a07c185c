package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// Errors returned by [Keyring.Open]. They carry no detail on purpose: the
// reason a ciphertext fails to open is of use only to an attacker.
var (
	ErrUnknownKey = errors.New("secret: unknown key id")
	ErrDecrypt    = errors.New("secret: decryption failed")
)

const (
	// MinKeySize is the minimum length of a master key in bytes.
	MinKeySize = 32
	// DigestSize is the length of a [Keyring.Digest] in bytes.
	DigestSize = sha256.Size
	// MaxKeyIDLen bounds key ids, which are stored next to every ciphertext.
	MaxKeyIDLen = 32
)

// Key is one master key. ID names it in key files and next to ciphertexts;
// it must be 1 to [MaxKeyIDLen] characters of A-Z, a-z, 0-9, '.', '_' or '-'
// so that it survives the key-file and environment-variable syntax.
type Key struct {
	ID     string
	Secret []byte
}

// String keeps the secret out of logs and error messages that format a Key.
func (k Key) String() string { return "secret.Key{ID: " + k.ID + ", Secret: <redacted>}" }

// GoString keeps the secret out of %#v output.
func (k Key) GoString() string { return k.String() }

// Keyring holds the server's key material: one or more master keys, oldest
// first. The newest (last) key is the active one used by [Keyring.Seal];
// every key can [Keyring.Open]. From each master key, HKDF-SHA256 derives
// two independent subkeys with distinct labels ("tokend digest v1",
// "tokend seal v1"), so the digest key and the encryption key never share
// material and one master secret can safely serve both purposes.
//
// A Keyring is immutable and safe for concurrent use. It does not retain
// the master secrets, only the derived subkeys.
type Keyring struct {
	keys []sealKey // oldest first; the last one is active

	// Digesters keyed with the first key's digest subkey. Building an HMAC
	// costs two hash states and the padded keys; pooling them keeps
	// Digest, which runs on every authenticated request, down to the one
	// allocation for its result.
	digesters sync.Pool
}

// NewKeyring builds a keyring from master keys given oldest first; the last
// key becomes active. It requires at least one key, unique valid ids and
// secrets of at least [MinKeySize] bytes.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secret: keyring needs at least one key")
	}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("secret: key %d: %w", i+1, err)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("secret: key %d: duplicate key id %q", i+1, k.ID)
		}
		seen[k.ID] = true
	}

	kr := &Keyring{keys: make([]sealKey, len(keys))}
	for i, k := range keys {
		encKey, err := hkdf.Key(sha256.New, k.Secret, nil, sealLabel, subkeySize)
		if err != nil {
			return nil, fmt.Errorf("secret: key %q: deriving encryption key: %w", k.ID, err)
		}
		block, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, fmt.Errorf("secret: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("secret: key %q: %w", k.ID, err)
		}
		kr.keys[i] = sealKey{id: k.ID, aead: aead}
	}

	digestKey, err := hkdf.Key(sha256.New, keys[0].Secret, nil, digestLabel, subkeySize)
	if err != nil {
		return nil, fmt.Errorf("secret: key %q: deriving digest key: %w", keys[0].ID, err)
	}
	kr.digesters.New = func() any {
		return &digester{mac: hmac.New(sha256.New, digestKey)}
	}
	return kr, nil
}

// GenerateKey returns a new master key of [MinKeySize] random bytes.
func GenerateKey(id string) (Key, error) {
	if !validKeyID(id) {
		return Key{}, fmt.Errorf("secret: %w", errInvalidKeyID)
	}
	k := Key{ID: id, Secret: make([]byte, MinKeySize)}
	if _, err := rand.Read(k.Secret); err != nil {
		return Key{}, err
	}
	return k, nil
}

// ActiveID returns the id of the key that [Keyring.Seal] uses.
func (k *Keyring) ActiveID() string {
	return k.keys[len(k.keys)-1].id
}

// Digest returns HMAC-SHA256 of token under the digest subkey of the
// FIRST (oldest) key in the ring, not the active one. The digest is the
// unique lookup index of stored tokens and cannot be recomputed without
// the plaintext, so it must not change when a newer key is added for
// encryption. Consequently the first key must stay first for as long as
// any digest made with it is in use; retiring it means re-issuing (or, if
// sealed, re-digesting) every stored token.
func (k *Keyring) Digest(token string) []byte {
	d := k.digesters.Get().(*digester)
	for len(token) > 0 {
		n := copy(d.buf[:], token)
		d.mac.Write(d.buf[:n])
		token = token[n:]
	}
	sum := d.mac.Sum(make([]byte, 0, DigestSize))
	d.mac.Reset()
	k.digesters.Put(d)
	return sum
}

// Seal encrypts plaintext with AES-256-GCM under the active key and
// returns the ciphertext (a random 12-byte nonce followed by the sealed
// data and tag) together with the id of the key used, which the caller
// stores next to it. aad is authenticated but not stored: pass something
// that identifies the row, such as the token id, so that a ciphertext
// copied into another row no longer opens.
func (k *Keyring) Seal(plaintext string, aad []byte) (ciphertext []byte, keyID string, err error) {
	active := k.keys[len(k.keys)-1]
	// A random 96-bit nonce per message is the standard GCM construction;
	// with the active key rotated long before 2^32 messages the collision
	// risk stays negligible.
	return active.aead.Seal(nil, nil, []byte(plaintext), aad), active.id, nil
}

// Open decrypts a ciphertext produced by [Keyring.Seal] with the key named
// keyID and the same aad. It returns [ErrUnknownKey] if the ring has no
// such key and [ErrDecrypt] for any other failure.
func (k *Keyring) Open(ciphertext []byte, keyID string, aad []byte) (string, error) {
	for _, key := range k.keys {
		if key.id != keyID {
			continue
		}
		plaintext, err := key.aead.Open(nil, nil, ciphertext, aad)
		if err != nil {
			return "", ErrDecrypt
		}
		return string(plaintext), nil
	}
	return "", ErrUnknownKey
}

// Equal reports whether a and b are equal, in time that does not depend on
// their contents, so that comparing a stored digest with a computed one
// does not leak how many leading bytes matched. The lengths are not secret.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

type digester struct {
	mac hash.Hash
	// buf stages the token for mac.Write, which takes a []byte that
	// escapes, so a direct []byte(token) conversion would allocate.
	buf [64]byte
}

const (
	digestLabel = "tokend digest v1"
	sealLabel   = "tokend seal v1"
	subkeySize  = 32 // AES-256 and a full-strength HMAC-SHA256 key
)

var errInvalidKeyID = fmt.Errorf("invalid key id: want 1 to %d characters of A-Z a-z 0-9 . _ -", MaxKeyIDLen)

// checkKey validates a key. Its errors name neither the secret nor the id,
// since a malformed id may well be a secret pasted into the wrong place;
// callers add the position.
func checkKey(k Key) error {
	if !validKeyID(k.ID) {
		return errInvalidKeyID
	}
	if len(k.Secret) < MinKeySize {
		return fmt.Errorf("secret is %d bytes, need at least %d", len(k.Secret), MinKeySize)
	}
	return nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > MaxKeyIDLen {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if base62Value[c] < 0 && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
