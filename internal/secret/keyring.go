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
// first. The newest (last) key is the active one: [Keyring.Seal] encrypts
// and [Keyring.Digest] digests under it; every key can [Keyring.Open] and
// every key's digest is offered for lookup ([Keyring.LookupDigests]), so
// values sealed or digested under an older key keep working until
// tokend rotate-key has moved them to the active key, after which the old
// key can be retired. From each master key, HKDF-SHA256 derives two
// independent subkeys with distinct labels ("tokend digest v1", "tokend
// seal v1"), so the digest key and the encryption key never share material
// and one master secret can safely serve both purposes. The digest subkey
// depends on the master secret alone, so digests made by earlier versions
// (which digested under the first key only) stay valid under that key.
//
// A Keyring is immutable and safe for concurrent use. It does not retain
// the master secrets, only the derived subkeys.
type Keyring struct {
	keys   []*ringKey // oldest first
	active *ringKey   // keys[len(keys)-1]
}

// KeyedDigest is a value's digest under one key of the ring.
type KeyedDigest struct {
	KeyID  string
	Digest []byte
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

	kr := &Keyring{keys: make([]*ringKey, len(keys))}
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
		digestKey, err := hkdf.Key(sha256.New, k.Secret, nil, digestLabel, subkeySize)
		if err != nil {
			return nil, fmt.Errorf("secret: key %q: deriving digest key: %w", k.ID, err)
		}
		rk := &ringKey{id: k.ID, aead: aead}
		// Building an HMAC costs two hash states and the padded keys;
		// pooling them keeps Digest, which runs on every authenticated
		// request, down to the one allocation for its result.
		rk.digesters.New = func() any {
			return &digester{mac: hmac.New(sha256.New, digestKey)}
		}
		kr.keys[i] = rk
	}
	kr.active = kr.keys[len(kr.keys)-1]
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
	return k.active.id
}

// DigestID returns the id of the key that [Keyring.Digest] uses: store it
// next to every digest, so that rotate-key knows which digests still
// depend on an older key and the server can refuse to start without it.
func (k *Keyring) DigestID() string {
	return k.active.id
}

// IDs returns the key ids, oldest first (the last one is active).
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return ids
}

// Has reports whether the ring holds a key with this id.
func (k *Keyring) Has(id string) bool {
	return k.find(id) != nil
}

// Digest returns HMAC-SHA256 of value under the digest subkey of the active
// key ([Keyring.DigestID]): what a new token's or session's digest column
// gets. To find a stored value, use [Keyring.LookupDigests], which also
// covers digests made under older keys.
func (k *Keyring) Digest(value string) []byte {
	return k.active.digest(make([]byte, 0, DigestSize), value)
}

// DigestWith returns the digest of value under the key keyID, for checking
// a value against a stored digest whose key id is known. It returns
// [ErrUnknownKey] if the ring has no such key.
func (k *Keyring) DigestWith(keyID, value string) ([]byte, error) {
	key := k.find(keyID)
	if key == nil {
		return nil, ErrUnknownKey
	}
	return key.digest(make([]byte, 0, DigestSize), value), nil
}

// Digests returns the digest of value under every key of the ring, the
// active key first, then the others from newest to oldest.
func (k *Keyring) Digests(value string) []KeyedDigest {
	buf := make([]byte, 0, len(k.keys)*DigestSize)
	out := make([]KeyedDigest, len(k.keys))
	for i := range k.keys {
		key := k.keys[len(k.keys)-1-i]
		d := key.digest(buf[len(buf):len(buf):len(buf)+DigestSize], value)
		buf = buf[:len(buf)+DigestSize]
		out[i] = KeyedDigest{KeyID: key.id, Digest: d}
	}
	return out
}

// LookupDigests returns the digests of [Keyring.Digests] without their key
// ids, in the same order, for a query such as "WHERE digest IN ?": a token
// digested under any key of the ring is found in one round trip. The first
// one is [Keyring.Digest]'s. With a single key it is one digest.
func (k *Keyring) LookupDigests(value string) [][]byte {
	buf := make([]byte, 0, len(k.keys)*DigestSize)
	out := make([][]byte, len(k.keys))
	for i := range k.keys {
		key := k.keys[len(k.keys)-1-i]
		out[i] = key.digest(buf[len(buf):len(buf):len(buf)+DigestSize], value)
		buf = buf[:len(buf)+DigestSize]
	}
	return out
}

// Seal encrypts plaintext with AES-256-GCM under the active key and
// returns the ciphertext (a random 12-byte nonce followed by the sealed
// data and tag) together with the id of the key used, which the caller
// stores next to it. aad is authenticated but not stored: pass something
// that identifies the row, such as the token id, so that a ciphertext
// copied into another row no longer opens.
func (k *Keyring) Seal(plaintext string, aad []byte) (ciphertext []byte, keyID string, err error) {
	active := k.active
	// A random 96-bit nonce per message is the standard GCM construction;
	// with the active key rotated long before 2^32 messages the collision
	// risk stays negligible.
	return active.aead.Seal(nil, nil, []byte(plaintext), aad), active.id, nil
}

// Open decrypts a ciphertext produced by [Keyring.Seal] with the key named
// keyID and the same aad. It returns [ErrUnknownKey] if the ring has no
// such key and [ErrDecrypt] for any other failure.
func (k *Keyring) Open(ciphertext []byte, keyID string, aad []byte) (string, error) {
	key := k.find(keyID)
	if key == nil {
		return "", ErrUnknownKey
	}
	plaintext, err := key.aead.Open(nil, nil, ciphertext, aad)
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plaintext), nil
}

func (k *Keyring) find(id string) *ringKey {
	for _, key := range k.keys {
		if key.id == id {
			return key
		}
	}
	return nil
}

// Equal reports whether a and b are equal, in time that does not depend on
// their contents, so that comparing a stored digest with a computed one
// does not leak how many leading bytes matched. The lengths are not secret.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

type ringKey struct {
	id   string
	aead cipher.AEAD
	// digesters are HMACs keyed with this key's digest subkey.
	digesters sync.Pool
}

// digest appends HMAC-SHA256 of value under the key's digest subkey to dst.
func (r *ringKey) digest(dst []byte, value string) []byte {
	d := r.digesters.Get().(*digester)
	for len(value) > 0 {
		n := copy(d.buf[:], value)
		d.mac.Write(d.buf[:n])
		value = value[n:]
	}
	sum := d.mac.Sum(dst)
	d.mac.Reset()
	r.digesters.Put(d)
	return sum
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
