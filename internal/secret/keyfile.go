package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ParseKeyFile parses a key file: one key per line as ID:BASE64(secret),
// standard base64, oldest key first, so the LAST key is the active one.
// Blank lines and lines starting with '#' are ignored. Errors name the line
// but never include key material.
func ParseKeyFile(data []byte) ([]Key, error) {
	return parseKeys(string(data), false)
}

// FormatKeyFile renders keys in the format read by [ParseKeyFile], with a
// header comment. The keys are expected to be valid (see [NewKeyring]).
func FormatKeyFile(keys []Key) []byte {
	b := []byte(keyFileHeader)
	for _, k := range keys {
		b = append(b, k.ID...)
		b = append(b, ':')
		b = base64.StdEncoding.AppendEncode(b, k.Secret)
		b = append(b, '\n')
	}
	return b
}

// ParseKeyString parses keys from a single string such as an environment
// variable. It accepts the key-file format, but keys may also be separated
// by commas or whitespace, and a lone key without "ID:" gets the id "k1" so
// that the simplest deployment is one base64 value. Errors name the key by
// position but never include key material.
func ParseKeyString(s string) ([]Key, error) {
	return parseKeys(s, true)
}

const (
	keyFileHeader = "# tokend keys, one per line as ID:BASE64(secret), oldest first; the last key is active.\n"
	bareKeyID     = "k1"
)

func parseKeys(s string, inline bool) ([]Key, error) {
	var keys []Key
	seen := make(map[string]bool)
	add := func(field string) error {
		k, err := parseKey(field, inline)
		if err != nil {
			return err
		}
		if seen[k.ID] {
			if inline && k.ID == bareKeyID {
				return fmt.Errorf("duplicate key id %q (a key without \"ID:\" is named %q)", k.ID, bareKeyID)
			}
			return fmt.Errorf("duplicate key id %q", k.ID)
		}
		seen[k.ID] = true
		keys = append(keys, k)
		return nil
	}

	lineNo := 0
	for line := range strings.Lines(s) {
		lineNo++
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if !inline {
			if err := add(line); err != nil {
				return nil, fmt.Errorf("secret: key file line %d: %w", lineNo, err)
			}
			continue
		}
		for _, field := range strings.FieldsFunc(line, isKeySeparator) {
			if err := add(field); err != nil {
				return nil, fmt.Errorf("secret: key %d: %w", len(keys)+1, err)
			}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("secret: no keys found")
	}
	return keys, nil
}

// parseKey parses one "ID:BASE64" entry; with allowBare, a lone base64
// value is accepted and named [bareKeyID].
func parseKey(field string, allowBare bool) (Key, error) {
	id, encoded, found := strings.Cut(field, ":")
	if !found {
		if !allowBare {
			return Key{}, errors.New("missing ':' between key id and key material (want ID:BASE64)")
		}
		id, encoded = bareKeyID, field
	}
	id, encoded = strings.TrimSpace(id), strings.TrimSpace(encoded)
	if !validKeyID(id) {
		return Key{}, errInvalidKeyID
	}
	secret, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		// The decoder's error is only an offset, but dropping it keeps the
		// guarantee simple: nothing derived from the material is reported.
		return Key{}, errors.New("key material is not valid standard base64")
	}
	k := Key{ID: id, Secret: secret}
	if err := checkKey(k); err != nil {
		return Key{}, err
	}
	return k, nil
}

func isKeySeparator(r rune) bool {
	return r == ',' || unicode.IsSpace(r)
}
