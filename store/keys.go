package store

import "context"

// SubjectKey is a data subject's key as a [KeyStore] holds it: wrapped
// (encrypted) by a master key, so the key table alone reveals nothing.
type SubjectKey struct {
	// Subject is the data subject's ID, as [PersonalData.DataSubject]
	// returns it.
	Subject string
	// KeyID names the master key of the [Keyring] that wrapped the key.
	KeyID string
	// Wrapped is the subject's key, encrypted under the master key.
	Wrapped []byte
}

// KeyStore keeps one key per data subject, in the same database as the
// events. Every adapter implements it; proptest.KeyStoreContract checks an
// implementation. Implementations are safe for concurrent use and honour
// the cancellation of their context. Each method refuses an invalid
// subject (see [ValidateSubject]) with an error matching [ErrInvalid].
type KeyStore interface {
	// CreateSubjectKey stores k unless a key for k.Subject is stored, and
	// returns the key stored for the subject: k, or the one that was there
	// first. Concurrent calls for one subject all return the same key.
	// An invalid k (see [ValidateSubjectKey]) fails with [ErrInvalid].
	CreateSubjectKey(ctx context.Context, k SubjectKey) (SubjectKey, error)

	// SubjectKey returns the key of subject, or an error matching
	// [ErrNotFound] when there is none (never created, or deleted).
	SubjectKey(ctx context.Context, subject string) (SubjectKey, error)

	// DeleteSubjectKey deletes the key of subject, for good. Deleting a
	// key that does not exist succeeds, so forgetting is idempotent.
	DeleteSubjectKey(ctx context.Context, subject string) error
}

// MaxWrappedKeyLen bounds [SubjectKey.Wrapped].
const MaxWrappedKeyLen = 1024
