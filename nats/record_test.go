package annalsnats_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"pgregory.net/rapid"

	annalsnats "github.com/annals-dev/annals/nats"
	"github.com/annals-dev/annals/store"
)

// anyRecord draws a record whose text is any bytes, line breaks, white
// space at either end and invalid UTF-8 included.
func anyRecord(t *rapid.T) store.Record {
	text := func(label string, minLen int) string {
		return string(rapid.SliceOfN(rapid.Byte(), minLen, 24).Draw(t, label))
	}
	rec := store.Record{
		ID:            uuid.UUID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id")),
		StreamID:      text("stream", 1),
		Version:       rapid.Int64().Draw(t, "version"),
		Position:      rapid.Int64().Draw(t, "position"),
		Type:          text("type", 1),
		SchemaVersion: rapid.Int().Draw(t, "schema version"),
		Time: time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "seconds"),
			rapid.Int64Range(0, 999999999).Draw(t, "nanoseconds")).UTC(),
		Data:     rapid.SliceOf(rapid.Byte()).Draw(t, "data"),
		Encoding: text("encoding", 0),
		Metadata: store.Metadata{
			CorrelationID: text("correlation", 0),
			CausationID:   text("causation", 0),
			Extra:         rapid.MapOf(rapid.String(), rapid.String()).Draw(t, "extra"),
		},
		Tags: rapid.SliceOf(rapid.String()).Draw(t, "tags"),
	}
	if len(rec.Metadata.Extra) == 0 {
		rec.Metadata.Extra = nil
	}
	if len(rec.Tags) == 0 {
		rec.Tags = nil
	}
	return rec
}

// Whatever a record holds, its message carries it through a NATS
// server, and RecordFromHeaders rebuilds it exactly.
func TestRecordCrossesTheWire(t *testing.T) {
	b := newBroker(t)
	sub, err := b.nc.SubscribeSync("wire")
	if err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(rt *rapid.T) {
		rec := anyRecord(rt)
		if err := b.nc.PublishMsg(&nats.Msg{Subject: "wire", Header: annalsnats.Headers(rec), Data: rec.Data}); err != nil {
			rt.Fatal(err)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			rt.Fatal(err)
		}
		got, err := annalsnats.RecordFromHeaders(m.Header, m.Data)
		if err != nil {
			rt.Fatalf("%v (headers %q)", err, m.Header)
		}
		if diff := sameRecord(got, rec); diff != "" {
			rt.Fatal(diff)
		}
	})
}

// A message that a Publisher did not publish, or whose headers were
// changed, is no record: Record says which header is wrong.
func TestRecordRefusesAMessageNotFromARecord(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	stream := b.stream(t, "PLAIN", "plain", jetstream.StreamConfig{})
	if _, err := b.js.Publish(ctx, "plain.hello", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	msgs := messages(t, stream)
	if len(msgs) != 1 {
		t.Fatalf("the stream holds %d messages, want 1", len(msgs))
	}
	if _, err := annalsnats.Record(msgs[0]); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), jetstream.MsgIDHeader) {
		t.Errorf("Record of a plain message = %v; want store.ErrInvalid naming %s", err, jetstream.MsgIDHeader)
	}
	if _, err := annalsnats.Record(nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Record(nil) = %v; want store.ErrInvalid", err)
	}

	rec := store.Record{
		ID: uuid.Must(uuid.NewV7()), StreamID: "order-1", Version: 1, Position: 1, Type: "OrderPlaced",
		SchemaVersion: 1, Time: time.Now().UTC(), Encoding: "gzip",
		Metadata: store.Metadata{CorrelationID: "c", CausationID: "d", Extra: map[string]string{"k": "v"}},
		Tags:     []string{"t"},
	}
	if _, err := annalsnats.RecordFromHeaders(annalsnats.Headers(rec), nil); err != nil {
		t.Fatalf("RecordFromHeaders of a record's headers: %v", err)
	}
	for _, key := range []string{
		jetstream.MsgIDHeader, annalsnats.HeaderStream, annalsnats.HeaderVersion, annalsnats.HeaderPosition,
		annalsnats.HeaderType, annalsnats.HeaderSchemaVersion, annalsnats.HeaderTime,
	} {
		for _, h := range []nats.Header{without(annalsnats.Headers(rec), key), with(annalsnats.Headers(rec), key, "")} {
			if _, err := annalsnats.RecordFromHeaders(h, nil); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "header "+key+" is missing") {
				t.Errorf("without %s: %v; want store.ErrInvalid saying it is missing", key, err)
			}
		}
	}
	for key, bad := range map[string]string{
		jetstream.MsgIDHeader:          "order-1",
		annalsnats.HeaderStream:        "100%",
		annalsnats.HeaderVersion:       "one",
		annalsnats.HeaderPosition:      "1.5",
		annalsnats.HeaderType:          "%zz",
		annalsnats.HeaderSchemaVersion: "99999999999999999999",
		annalsnats.HeaderTime:          "yesterday",
		annalsnats.HeaderEncoding:      "%",
		annalsnats.HeaderCorrelationID: "%4",
		annalsnats.HeaderCausationID:   "%g0",
		annalsnats.HeaderExtra:         `{"k":1}`,
		annalsnats.HeaderTags:          `["t"`,
	} {
		if _, err := annalsnats.RecordFromHeaders(with(annalsnats.Headers(rec), key, bad), nil); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "header "+key+" ") {
			t.Errorf("%s %q: %v; want store.ErrInvalid naming the header", key, bad, err)
		}
	}
}

func without(h nats.Header, key string) nats.Header { h.Del(key); return h }

func with(h nats.Header, key, value string) nats.Header { h.Set(key, value); return h }

// A type's token is one token of a subject, from which the type can be
// read back: different types have different subjects.
func TestSubjectToken(t *testing.T) {
	for typ, want := range map[string]string{
		"OrderPlaced":     "OrderPlaced",
		"order_placed-v2": "order_placed-v2",
		"order.placed v2": "order%2Eplaced%20v2",
		"*":               "%2A",
		">":               "%3E",
		"100%":            "100%25",
		"é":               "%C3%A9",
	} {
		if got := annalsnats.SubjectToken(typ); got != want {
			t.Errorf("SubjectToken(%q) = %q, want %q", typ, got, want)
		}
	}
	rapid.Check(t, func(rt *rapid.T) {
		typ := string(rapid.SliceOf(rapid.Byte()).Draw(rt, "type"))
		tok := annalsnats.SubjectToken(typ)
		var back []byte
		for i := 0; i < len(tok); i++ {
			switch c := tok[i]; {
			case c == '%':
				if i+2 >= len(tok) {
					rt.Fatalf("token %q ends in a cut escape", tok)
				}
				b, err := hex.DecodeString(tok[i+1 : i+3])
				if err != nil || strings.ToUpper(tok[i+1:i+3]) != tok[i+1:i+3] {
					rt.Fatalf("token %q has a bad escape at %d", tok, i)
				}
				back = append(back, b...)
				i += 2
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
				back = append(back, c)
			default:
				rt.Fatalf("token %q holds %q", tok, c)
			}
		}
		if string(back) != typ {
			rt.Fatalf("token %q reads back as %q, want %q", tok, back, typ)
		}
	})
}
