package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Environment variables from which [KeyringFromEnv] reads the keys.
const (
	// CipherKeyEnv holds the key that encrypts new records, as
	// "<key ID>:<base64 of 32 bytes>" or just the base64 (the ID is then
	// derived from the key).
	CipherKeyEnv = "ANNALS_CIPHER_KEY"
	// CipherOldKeysEnv holds older keys that still decrypt, in the same
	// form, separated by commas.
	CipherOldKeysEnv = "ANNALS_CIPHER_OLD_KEYS"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// Key is an AES-256 key with the ID that records encrypted under it carry.
// Its String and GoString methods print the ID, never the secret.
type Key struct {
	// ID names the key in records: 1 to 64 letters, digits, '.', '_' or '-'.
	ID string
	// Secret is the key itself, [KeySize] bytes.
	Secret []byte
}

// String returns the key's ID and hides its secret.
func (k Key) String() string { return k.ID + ":<secret>" }

// GoString returns the key's ID and hides its secret.
func (k Key) GoString() string { return fmt.Sprintf("codec.Key{ID: %q, Secret: <hidden>}", k.ID) }

// Keyring holds the key that encrypts new payloads and the keys that still
// decrypt older ones, by ID. Rotating a key means writing with a new key
// while the old one stays in the ring for reading. A Keyring is safe for
// concurrent use.
type Keyring struct {
	writeID string
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring that encrypts with write and decrypts with
// write and every key of read. It fails with an error matching [store.ErrInvalid]
// when a key is not [KeySize] bytes, an ID is malformed, or two keys share
// an ID.
func NewKeyring(write Key, read ...Key) (*Keyring, error) {
	k := &Keyring{writeID: write.ID, aeads: make(map[string]cipher.AEAD, 1+len(read))}
	for _, key := range append([]Key{write}, read...) {
		if err := check.KeyID(key.ID); err != nil {
			return nil, fmt.Errorf("keyring: %v: %w", err, store.ErrInvalid)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("keyring: key %q is %d bytes, want %d (generate one with: openssl rand -base64 32): %w", key.ID, len(key.Secret), KeySize, store.ErrInvalid)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("keyring: two keys have the ID %q: %w", key.ID, store.ErrInvalid)
		}
		aead, err := newAEAD(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %q: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

func newAEAD(secret []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	// Each Seal draws a fresh random 96-bit nonce and prepends it.
	return cipher.NewGCMWithRandomNonce(block)
}

// WriteKeyID returns the ID of the key that encrypts new payloads.
func (k *Keyring) WriteKeyID() string {
	if k == nil {
		return ""
	}
	return k.writeID
}

// KeyIDs returns the IDs of every key in the ring, sorted.
func (k *Keyring) KeyIDs() []string {
	if k == nil {
		return nil
	}
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// seal encrypts plain under the write key, bound to aad.
func (k *Keyring) seal(plain, aad []byte) []byte {
	return k.aeads[k.writeID].Seal(nil, nil, plain, aad)
}

// open decrypts data sealed under key id, bound to aad. what describes
// the payload for the error.
func (k *Keyring) open(id string, data, aad []byte, what string) ([]byte, error) {
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("decrypt %s: key %q is not in the keyring (it holds %s); add it to %s: %w",
			what, id, strings.Join(k.KeyIDs(), ", "), CipherOldKeysEnv, ErrDecrypt)
	}
	plain, err := aead.Open(nil, nil, data, aad)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s with key %q: wrong key, or the stored bytes were changed or belong to another record: %w", what, id, ErrDecrypt)
	}
	return plain, nil
}

// ParseKey reads a key written as "<ID>:<base64>" or as the base64 alone,
// standard or URL alphabet, padded or not. A key without an ID gets one
// derived from the key: "k" and the first 8 hex digits of its SHA-256, so
// the same key always has the same ID. Errors never quote the secret.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	id, b64, hasID := strings.Cut(s, ":")
	if !hasID {
		id, b64 = "", s
	}
	var secret []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(b64); err == nil {
			secret = b
			break
		}
	}
	name := id
	if name == "" {
		name = "without ID"
	}
	switch {
	case secret == nil:
		return Key{}, fmt.Errorf("key %s: not base64; write a key as <ID>:<base64 of %d bytes>: %w", name, KeySize, store.ErrInvalid)
	case len(secret) != KeySize:
		return Key{}, fmt.Errorf("key %s: %d bytes, want %d (generate one with: openssl rand -base64 32): %w", name, len(secret), KeySize, store.ErrInvalid)
	}
	if !hasID {
		sum := sha256.Sum256(secret)
		id = "k" + hex.EncodeToString(sum[:4])
	}
	if err := check.KeyID(id); err != nil {
		return Key{}, fmt.Errorf("%v: %w", err, store.ErrInvalid)
	}
	return Key{ID: id, Secret: secret}, nil
}

// KeyringFromEnv builds a keyring from [CipherKeyEnv] (the key that
// writes) and [CipherOldKeysEnv] (keys that still read, comma-separated),
// looked up with getenv, usually os.Getenv:
//
//	ANNALS_CIPHER_KEY=k2:q2vP…=        ANNALS_CIPHER_OLD_KEYS=k1:8Jw4…=
//
// When CipherKeyEnv is empty it fails with an error matching [store.ErrNotFound],
// so a program can tell "not configured" from "misconfigured" (which
// matches [store.ErrInvalid]).
func KeyringFromEnv(getenv func(string) string) (*Keyring, error) {
	if getenv == nil {
		return nil, fmt.Errorf("keyring from the environment: nil getenv: give os.Getenv, or a function that reads the configuration: %w", store.ErrInvalid)
	}
	raw := getenv(CipherKeyEnv)
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%s is not set: %w", CipherKeyEnv, store.ErrNotFound)
	}
	write, err := ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CipherKeyEnv, err)
	}
	var read []Key
	for i, part := range strings.Split(getenv(CipherOldKeysEnv), ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, err := ParseKey(part)
		if err != nil {
			return nil, fmt.Errorf("%s, key %d: %w", CipherOldKeysEnv, i+1, err)
		}
		read = append(read, k)
	}
	return NewKeyring(write, read...)
}
