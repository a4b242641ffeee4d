package codec

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
	"github.com/google/uuid"
)

// The steps a record's Encoding names, in the order they are applied when
// writing. A record's Encoding joins the steps applied with "+", for
// example "deflate+aes256gcm:k2"; the empty string means none.
const (
	// EncodingPersonal: the personal fields were moved into an envelope
	// encrypted with the data subject's key (see [PersonalData]).
	EncodingPersonal = "personal"
	// EncodingDeflate: the payload was compressed with DEFLATE (RFC 1951).
	EncodingDeflate = "deflate"
	// EncodingAES256GCM is the prefix of "aes256gcm:<key ID>": the payload
	// was encrypted with AES-256-GCM under the named key of the [Keyring].
	EncodingAES256GCM = "aes256gcm"
)

// MaxInflatedSize bounds the size of a decompressed payload, so that a
// corrupt or hostile record cannot exhaust memory. A payload larger than
// this is stored uncompressed, since it could not be inflated again.
const MaxInflatedSize = 64 << 20

// MinCompressSize is the size below which payloads are stored without
// trying to compress them: they rarely shrink, and trying costs more than
// it could save.
const MinCompressSize = 64

// encoding is a parsed Encoding string.
type encoding struct {
	personal bool
	deflate  bool
	keyID    string // "" when not encrypted
}

func (e encoding) String() string {
	var steps []string
	if e.personal {
		steps = append(steps, EncodingPersonal)
	}
	if e.deflate {
		steps = append(steps, EncodingDeflate)
	}
	if e.keyID != "" {
		steps = append(steps, EncodingAES256GCM+":"+e.keyID)
	}
	return strings.Join(steps, "+")
}

// parseEncoding reads an Encoding string. Each step may appear once and in
// the order it is written, so that every record has one reading.
func parseEncoding(s string) (encoding, error) {
	var e encoding
	if s == "" {
		return e, nil
	}
	rank := -1
	for step := range strings.SplitSeq(s, "+") {
		r := -1
		switch {
		case step == EncodingPersonal:
			r, e.personal = 0, true
		case step == EncodingDeflate:
			r, e.deflate = 1, true
		case strings.HasPrefix(step, EncodingAES256GCM+":"):
			id := strings.TrimPrefix(step, EncodingAES256GCM+":")
			if err := check.KeyID(id); err != nil {
				return e, fmt.Errorf("encoding %q: %v: %w", s, err, ErrUnknownEncoding)
			}
			r, e.keyID = 2, id
		default:
			return e, fmt.Errorf("encoding %q: unknown step %q; this code reads %s, %s and %s:<key ID>, joined by + in that order: %w",
				s, step, EncodingPersonal, EncodingDeflate, EncodingAES256GCM, ErrUnknownEncoding)
		}
		if r <= rank {
			return e, fmt.Errorf("encoding %q: step %q repeated or out of order; steps are written as %s+%s+%s:<key ID>: %w",
				s, step, EncodingPersonal, EncodingDeflate, EncodingAES256GCM, ErrUnknownEncoding)
		}
		rank = r
	}
	return e, nil
}

// identity is what a ciphertext is bound to, as additional authenticated
// data: the record it belongs to. A ciphertext copied to any other record,
// or a record whose type, schema version or Encoding was changed, fails
// to decrypt (the Encoding through payloadAAD).
type identity struct {
	kind     byte // 'e' for an event, 's' for a snapshot
	streamID string
	version  int64
	eventID  uuid.UUID // events only
	typ      string
	schema   int
}

// The domain tags of additional data. Payloads sealed under aadPrefix
// were bound to their record only; under payloadPrefix, to their record
// and to the steps applied inside the encryption (see payloadAAD).
const (
	aadPrefix     = "annals/1\x00"
	payloadPrefix = "annals/2\x00"
)

// aad returns the additional data that binds a ciphertext to the record:
// a subject's envelope (with more after it), and the payloads written
// before payloadAAD.
func (id identity) aad() []byte {
	return id.appendRecord(make([]byte, 0, len(aadPrefix)+len(id.streamID)+len(id.typ)+48), aadPrefix)
}

// payloadAAD returns the additional data of a payload's encryption: the
// record, and the steps applied before it (personal, deflate), so that a
// record whose Encoding was changed to drop or add one fails to decrypt
// rather than have its bytes read as something they are not (an
// envelope decoded as the event, its fields all zero).
func (id identity) payloadAAD(inner encoding) []byte {
	b := id.appendRecord(make([]byte, 0, len(payloadPrefix)+len(id.streamID)+len(id.typ)+49), payloadPrefix)
	var steps byte
	if inner.personal {
		steps |= 1
	}
	if inner.deflate {
		steps |= 2
	}
	return append(b, steps)
}

func (id identity) appendRecord(b []byte, prefix string) []byte {
	b = append(b, prefix...)
	b = append(b, id.kind)
	b = appendString(b, id.streamID)
	b = binary.BigEndian.AppendUint64(b, uint64(id.version))
	if id.kind == 'e' {
		b = append(b, id.eventID[:]...)
	}
	b = appendString(b, id.typ)
	b = binary.AppendUvarint(b, uint64(id.schema))
	return b
}

func (id identity) String() string {
	if id.kind == 's' {
		return fmt.Sprintf("snapshot of stream %q at version %d (%s v%d)", id.streamID, id.version, id.typ, id.schema)
	}
	return fmt.Sprintf("stream %q version %d (%s v%d)", id.streamID, id.version, id.typ, id.schema)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// compressor pools DEFLATE writers and readers: a writer holds about a
// megabyte of tables, too much to allocate per record.
type compressor struct {
	writers sync.Pool // *flate.Writer
	readers sync.Pool // io.ReadCloser that is a flate.Resetter
}

// deflate returns data compressed, or nil when compressing does not make
// it smaller or data is larger than [MaxInflatedSize], which inflate
// refuses. It uses the fastest level: records are small, and at that
// size the higher levels cost several times the time for a few bytes.
func (c *compressor) deflate(data []byte) []byte {
	return c.deflateUpTo(data, MaxInflatedSize)
}

// deflateUpTo is deflate for payloads that inflate to at most limit bytes.
func (c *compressor) deflateUpTo(data []byte, limit int) []byte {
	if len(data) < MinCompressSize || len(data) > limit {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	w, _ := c.writers.Get().(*flate.Writer)
	if w == nil {
		w, _ = flate.NewWriter(&buf, flate.BestSpeed) // the level is valid
	} else {
		w.Reset(&buf)
	}
	defer c.writers.Put(w)
	if _, err := w.Write(data); err != nil {
		return nil // writing to a bytes.Buffer does not fail; store uncompressed
	}
	if err := w.Close(); err != nil {
		return nil
	}
	if buf.Len() >= len(data) {
		return nil
	}
	return buf.Bytes()
}

// inflate returns data decompressed, refusing more than [MaxInflatedSize]
// bytes.
func (c *compressor) inflate(data []byte) ([]byte, error) {
	return c.inflateUpTo(data, MaxInflatedSize)
}

// inflateUpTo is inflate refusing more than limit bytes.
func (c *compressor) inflateUpTo(data []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(data)
	r, _ := c.readers.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(src)
	} else if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, err
	}
	defer c.readers.Put(r)
	var out bytes.Buffer
	out.Grow(min(len(data)*4, limit))
	// What deflate wrote inflates again, to at most the limit it was
	// written under: anything else was changed since.
	n, err := out.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w: %w", err, store.ErrCorrupt)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("inflate: payload exceeds %d bytes, more than a compressed payload is written with: %w", limit, store.ErrCorrupt)
	}
	return out.Bytes(), nil
}
