package codec

import (
	"errors"
	"fmt"

	"github.com/annals-dev/annals/internal/made"
	"github.com/annals-dev/annals/upcast"
)

var (
	// ErrUnknownEventType reports a stored type name that the codec has no
	// Go type for. Register the type, or an upcaster that renames it.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrSchemaVersion reports a stored schema version that the code cannot
	// read: newer than it knows, or with no upcaster to the current one.
	// It is [upcast.ErrSchemaVersion], so errors from either package match.
	ErrSchemaVersion = upcast.ErrSchemaVersion
	// ErrDecrypt reports a payload that cannot be decrypted: its key is not
	// configured, the key is wrong, or the stored bytes were changed or
	// copied from another record. The error names the key ID.
	ErrDecrypt = errors.New("decryption failed")
	// ErrUnknownEncoding reports a record whose Encoding names a
	// transformation this code does not know or in an order it does not
	// write, so its payload cannot be read.
	ErrUnknownEncoding = errors.New("unknown encoding")
	// ErrUnencodable reports a type whose values a codec would store
	// without their content, such as a struct whose fields are all
	// unexported, which JSON stores as {}, or one with an unexported field
	// beside exported ones, which JSON leaves out. [JSON] refuses such a type when
	// it is registered and then fails every encode and decode with the
	// refusal; see [JSON.RegisterVersion]. [JSON.Encode] returns it too
	// for a value it would store changed, such as one holding a string
	// that is not valid UTF-8. The error names the type name, the Go
	// type, what is wrong and what to do.
	ErrUnencodable = errors.New("unencodable type")
)

// notMade returns the error of a call on a value of this package that
// its constructor did not make (see [made.Err]): typ is the type's name
// in this package, and how says how to make one.
func notMade(typ, how string) error {
	return made.Err("codec."+typ, how)
}

// mustBeMade panics with the error of err, a call on a value its
// constructor did not make, when err is not nil: for the calls that
// register, which panic on every mistake of the program.
func mustBeMade(doing string, err error) {
	if err != nil {
		panic(fmt.Sprintf("annals: %s: %v", doing, err))
	}
}
