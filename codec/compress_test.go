package codec_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
)

// rawCodec stores a payload's bytes as they are.
type rawCodec struct{}

func (rawCodec) Encode(b []byte) (string, int, []byte, error) { return "Raw", 1, b, nil }

func (rawCodec) Decode(_ string, _ int, b []byte) ([]byte, error) { return b, nil }

// With compression on, a payload the reader would refuse to inflate is
// stored uncompressed, and one of exactly MaxInflatedSize is compressed;
// both read back.
func TestCompressionKeepsWithinMaxInflatedSize(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 64 MiB")
	}
	m := codec.NewMapper[[]byte](rawCodec{}, codec.WithCompression())
	ctx := context.Background()
	payload := bytes.Repeat([]byte{'a'}, codec.MaxInflatedSize+1)
	for size, want := range map[int]string{codec.MaxInflatedSize: codec.EncodingDeflate, codec.MaxInflatedSize + 1: ""} {
		ev, err := m.ToEvent(ctx, codec.Placement{StreamID: "big-1", Version: 1}, payload[:size], store.Metadata{})
		if err != nil || ev.Encoding != want {
			t.Fatalf("%d bytes: Encoding %q, %v; want %q", size, ev.Encoding, err, want)
		}
		back, err := m.FromRecord(ctx, store.Record{StreamID: "big-1", Version: 1, ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data, Encoding: ev.Encoding})
		if err != nil || !bytes.Equal(back, payload[:size]) {
			t.Fatalf("%d bytes stored with Encoding %q, then read: %d bytes, %v; want them back", size, ev.Encoding, len(back), err)
		}
	}
}
