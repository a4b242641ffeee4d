package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// rawCodec hands back a payload's bytes as the pipeline leaves them:
// the tool knows no application's types, only the steps around them.
type rawCodec struct{}

// Encode refuses: the tool reads only.
func (rawCodec) Encode([]byte) (string, int, []byte, error) {
	return "", 0, nil, errors.New("the annals tool does not write events")
}

// Decode returns the payload as it is.
func (rawCodec) Decode(_ string, _ int, data []byte) ([]byte, error) { return data, nil }

// decoder undoes the steps a record's Encoding names: decryption (with the
// keys from the environment, when set), decompression and personal
// fields.
type decoder struct {
	mapper *codec.Pipeline[[]byte]
	keys   bool // a keyring is configured
}

func newDecoder(s store.Store, getenv func(string) string) (*decoder, error) {
	kr, err := codec.KeyringFromEnv(getenv)
	if errors.Is(err, store.ErrNotFound) {
		return &decoder{mapper: codec.NewMapper[[]byte](rawCodec{})}, nil
	}
	if err != nil {
		return nil, err
	}
	opts := []codec.MapperOption{codec.WithEncryption(kr)}
	if ks, ok := s.(store.KeyStore); ok {
		opts = append(opts, codec.WithSubjectKeys(ks, kr))
	}
	return &decoder{mapper: codec.NewMapper[[]byte](rawCodec{}, opts...), keys: true}, nil
}

// payload is a record's payload as the tool could read it.
type payload struct {
	data  []byte // the decoded payload, when ok
	ok    bool
	noKey bool  // it is encrypted and no keys were given
	err   error // why it could not be read
	// notJSON says why the decoded payload is not JSON, which the
	// library's codecs write; nil when it is.
	notJSON error
	// forgotten says the payload's personal fields belong to a
	// forgotten subject: data holds the other fields alone.
	forgotten bool
}

func (d *decoder) classify(data []byte, forgotten bool, err error) payload {
	switch {
	case err == nil:
		return payload{data: data, ok: true, notJSON: notJSON(data), forgotten: forgotten}
	case errors.Is(err, codec.ErrDecrypt) && !d.keys:
		return payload{noKey: true, err: fmt.Errorf("%w: %w", errNoKeys, err)}
	}
	return payload{err: err}
}

func (d *decoder) record(ctx context.Context, r store.Record) payload {
	return d.classify(d.mapper.Open(ctx, r))
}

func (d *decoder) snapshot(ctx context.Context, s snapshot.Snapshot) payload {
	data, err := d.mapper.FromSnapshot(ctx, s)
	if errors.Is(err, store.ErrNotFound) {
		return payload{ok: true, forgotten: true} // personal data of a forgotten subject: read, as far as it can be
	}
	return d.classify(data, false, err)
}

// errNoKeys says how the tool reads an encrypted payload, where the
// codec's own error names the option an application sets.
var errNoKeys = errors.New("encrypted, and no keys were given: set ANNALS_CIPHER_KEY to the application's keyring to read it")

// errNotJSON reports a decoded payload that is not JSON.
var errNotJSON = errors.New("it is not JSON, which the library's codecs write: the record was changed since it was written, or it was appended by other code (Store.Append with bytes of its own, a codec of your own that writes another format: then pass -payload any)")

// notJSON returns nil for a JSON payload, else why it is not JSON. An
// empty payload is not: the library's codecs never write one, and refuse
// to decode it.
func notJSON(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w (it is empty)", errNotJSON)
	}
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%w (%v)", errNotJSON, err)
	}
	return nil
}

// text shows a payload on one line: as itself when it is JSON, else its
// size and encoding, and why it could not be read.
func (p payload) text(r store.Record) string {
	if p.ok && p.notJSON == nil && len(p.data) > 0 {
		if p.forgotten {
			return oneLineJSON(p.data) + " " + forgottenMark
		}
		return oneLineJSON(p.data)
	}
	s := fmt.Sprintf("<%d bytes", len(r.Data))
	if r.Encoding != "" {
		s += ", " + printable(r.Encoding)
	}
	if p.ok && p.notJSON != nil {
		s += ", not JSON"
	}
	if p.err != nil && !p.noKey {
		s += ": cannot read: " + printable(p.err.Error())
	}
	return s + ">"
}

// printable returns s as it is when every character of it prints, and
// else quoted, with the others escaped: a stream ID or a type name that
// holds a newline, a tab or a terminal's escape sequence (a store takes
// them) must not break a line of text output into lines that look like
// other records, or reach the terminal.
func printable(s string) string {
	if strings.IndexFunc(s, noPrint) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// noPrint reports a character that a line of text must not hold as it
// is: one that does not print (a space does), or a byte that is not
// UTF-8, which ranging over a string gives as utf8.RuneError.
func noPrint(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }

// escapeNonPrinting returns s with every character that does not print
// escaped as Go escapes it in a quoted string, and the others as they
// are: for a line of text, such as an error, that may hold what a store
// took (see printable).
func escapeNonPrinting(s string) string {
	if strings.IndexFunc(s, noPrint) < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i]) // a byte that is not UTF-8
			} else {
				b.WriteRune(r)
			}
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// oneLineJSON returns data, valid JSON, on one line and as printable
// characters only: without the whitespace between its tokens, and with
// every other character that does not print escaped as JSON escapes it,
// so that the text still reads as the same JSON.
func oneLineJSON(data []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return printable(string(data))
	}
	s := b.String()
	if strings.IndexFunc(s, noPrint) < 0 {
		return s
	}
	var out strings.Builder
	for _, r := range s {
		if !noPrint(r) {
			out.WriteRune(r)
			continue
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			continue
		}
		fmt.Fprintf(&out, `\u%04x`, r)
	}
	return out.String()
}

// forgottenMark follows a payload whose personal fields belong to a
// forgotten subject, in the text of log and stream.
const forgottenMark = "<personal fields forgotten>"

// jsonRecord is a record as -json prints it.
type jsonRecord struct {
	Position      int64           `json:"position"`
	ID            string          `json:"id"`
	Stream        string          `json:"stream"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Time          time.Time       `json:"time"`
	Encoding      string          `json:"encoding,omitempty"`
	Tags          []string        `json:"tags,omitempty"`
	Metadata      store.Metadata  `json:"metadata"`
	Data          json.RawMessage `json:"data,omitempty"`        // the payload, when it reads as JSON
	DataBase64    string          `json:"data_base64,omitempty"` // otherwise its bytes: decoded when it could be, else as stored
	Unreadable    string          `json:"unreadable,omitempty"`  // why it could not be decoded
	// Forgotten says the payload's personal fields belong to a forgotten
	// subject: data holds the other fields alone.
	Forgotten bool `json:"forgotten,omitempty"`
}

func newJSONRecord(r store.Record, p payload) jsonRecord {
	j := jsonRecord{Position: r.Position, ID: r.ID.String(), Stream: r.StreamID, Version: r.Version, Type: r.Type,
		SchemaVersion: r.SchemaVersion, Time: r.Time, Encoding: r.Encoding, Tags: r.Tags, Metadata: r.Metadata, Forgotten: p.forgotten}
	switch {
	case p.ok && p.notJSON == nil && len(p.data) > 0:
		j.Data = p.data
	case p.ok:
		j.DataBase64 = base64.StdEncoding.EncodeToString(p.data)
	default:
		j.DataBase64 = base64.StdEncoding.EncodeToString(r.Data)
		j.Unreadable = p.err.Error()
	}
	return j
}
