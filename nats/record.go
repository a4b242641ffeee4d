package annalsnats

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/store"
)

// The headers of a record's message, besides [jetstream.MsgIDHeader]
// (Nats-Msg-Id), which holds the record's ID. The values of the text
// headers (stream, type, encoding, correlation and causation IDs) are
// escaped as by [url.PathEscape], since a header cannot carry every
// string (a line break, white space at either end): "order-1" stays as
// it is, "a b" becomes "a%20b". The numbers are in decimal, the time in
// RFC 3339 with nanoseconds, in UTC. A header of an optional value
// (encoding, correlation and causation IDs, extra metadata, tags) is
// absent when the value is empty.
const (
	HeaderStream        = "Annals-Stream"         // rec.StreamID
	HeaderVersion       = "Annals-Version"        // rec.Version
	HeaderPosition      = "Annals-Position"       // rec.Position
	HeaderType          = "Annals-Type"           // rec.Type
	HeaderSchemaVersion = "Annals-Schema-Version" // rec.SchemaVersion
	HeaderTime          = "Annals-Time"           // rec.Time
	HeaderEncoding      = "Annals-Encoding"       // rec.Encoding
	HeaderCorrelationID = "Annals-Correlation-Id" // rec.Metadata.CorrelationID
	HeaderCausationID   = "Annals-Causation-Id"   // rec.Metadata.CausationID
	HeaderExtra         = "Annals-Extra"          // rec.Metadata.Extra, a JSON object
	HeaderTags          = "Annals-Tags"           // rec.Tags, a JSON array
)

// Headers returns the headers that carry rec, all of it but its data,
// in the message a [Publisher] publishes.
func Headers(rec store.Record) nats.Header {
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, rec.ID.String())
	h.Set(HeaderStream, url.PathEscape(rec.StreamID))
	h.Set(HeaderVersion, strconv.FormatInt(rec.Version, 10))
	h.Set(HeaderPosition, strconv.FormatInt(rec.Position, 10))
	h.Set(HeaderType, url.PathEscape(rec.Type))
	h.Set(HeaderSchemaVersion, strconv.Itoa(rec.SchemaVersion))
	h.Set(HeaderTime, rec.Time.UTC().Format(time.RFC3339Nano))
	setText := func(key, v string) {
		if v != "" {
			h.Set(key, url.PathEscape(v))
		}
	}
	setText(HeaderEncoding, rec.Encoding)
	setText(HeaderCorrelationID, rec.Metadata.CorrelationID)
	setText(HeaderCausationID, rec.Metadata.CausationID)
	if len(rec.Metadata.Extra) > 0 {
		h.Set(HeaderExtra, string(lo.Must(json.Marshal(rec.Metadata.Extra))))
	}
	if len(rec.Tags) > 0 {
		h.Set(HeaderTags, string(lo.Must(json.Marshal(rec.Tags))))
	}
	return h
}

// Record rebuilds the record that a [Publisher] published as msg, as a
// subscriber of JetStream receives it; see [RecordFromHeaders].
func Record(msg jetstream.Msg) (store.Record, error) {
	if lo.IsNil(msg) {
		return store.Record{}, fmt.Errorf("record of a nats message: the message is nil: %w", store.ErrInvalid)
	}
	return RecordFromHeaders(msg.Headers(), msg.Data())
}

// RecordFromHeaders rebuilds a record from the headers and the body of
// the message a [Publisher] published it as (a core NATS subscriber has
// them as msg.Header and msg.Data). The record's Data is data, not a
// copy. A header that is missing, or whose value does not parse, fails
// with an error that matches [store.ErrInvalid] and names the header: the
// message was not published from a record.
func RecordFromHeaders(h nats.Header, data []byte) (store.Record, error) {
	p := headerParser{h: h}
	rec := store.Record{
		ID:            p.id(),
		StreamID:      p.text(HeaderStream, true),
		Version:       p.int(HeaderVersion),
		Position:      p.int(HeaderPosition),
		Type:          p.text(HeaderType, true),
		SchemaVersion: int(p.int(HeaderSchemaVersion)),
		Time:          p.time(HeaderTime),
		Data:          data,
		Encoding:      p.text(HeaderEncoding, false),
		Metadata: store.Metadata{
			CorrelationID: p.text(HeaderCorrelationID, false),
			CausationID:   p.text(HeaderCausationID, false),
		},
	}
	p.json(HeaderExtra, &rec.Metadata.Extra)
	p.json(HeaderTags, &rec.Tags)
	if p.err != nil {
		return store.Record{}, fmt.Errorf("record of a nats message: %w", p.err)
	}
	return rec, nil
}

// headerParser reads the values of headers, and keeps the first error.
type headerParser struct {
	h   nats.Header
	err error
}

// value returns the value of key; a required one that is missing or
// empty is an error.
func (p *headerParser) value(key string, required bool) (string, bool) {
	v := p.h.Get(key)
	if v == "" && required && p.err == nil {
		p.err = fmt.Errorf("header %s is missing: %w", key, store.ErrInvalid)
	}
	return v, v != "" && p.err == nil
}

func (p *headerParser) fail(key, v string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("header %s %q: %v: %w", key, v, err, store.ErrInvalid)
	}
}

func (p *headerParser) id() uuid.UUID {
	v, ok := p.value(jetstream.MsgIDHeader, true)
	if !ok {
		return uuid.UUID{}
	}
	id, err := uuid.Parse(v)
	if err != nil {
		p.fail(jetstream.MsgIDHeader, v, err)
	}
	return id
}

func (p *headerParser) text(key string, required bool) string {
	v, ok := p.value(key, required)
	if !ok {
		return ""
	}
	s, err := url.PathUnescape(v)
	if err != nil {
		p.fail(key, v, err)
	}
	return s
}

func (p *headerParser) int(key string) int64 {
	v, ok := p.value(key, true)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.fail(key, v, err)
	}
	return n
}

func (p *headerParser) time(key string) time.Time {
	v, ok := p.value(key, true)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.fail(key, v, err)
	}
	return t.UTC()
}

func (p *headerParser) json(key string, into any) {
	if v, ok := p.value(key, false); ok {
		if err := json.Unmarshal([]byte(v), into); err != nil {
			p.fail(key, v, err)
		}
	}
}
