package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
)

// BenchmarkStoredBytes reports the payload bytes stored per dog school
// event, plain and with compression (which applies only where it makes a
// payload smaller) and encryption (a 12-byte nonce and a 16-byte tag).
func BenchmarkStoredBytes(b *testing.B) {
	key, err := codec.ParseKey("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		b.Fatal(err)
	}
	kr, err := codec.NewKeyring(key)
	if err != nil {
		b.Fatal(err)
	}
	events := []Event{Registered{Name: "Fido"}}
	for i := range 50 {
		events = append(events, TrickAdded{Trick: fmt.Sprintf("trick number %d: roll over and fetch the ball", i)})
	}
	for _, c := range []struct {
		name string
		m    codec.Mapper[Event]
	}{
		{"plain", Codec()},
		{"deflate", codec.NewMapper(Codec(), codec.WithCompression())},
		{"deflate+aes256gcm", codec.NewMapper(Codec(), codec.WithCompression(), codec.WithEncryption(kr))},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			var stored int
			for b.Loop() {
				stored = 0
				for i, e := range events {
					ev, err := c.m.ToEvent(ctx, codec.Placement{StreamID: "dog-1", Version: int64(i + 1)}, e, store.Metadata{})
					if err != nil {
						b.Fatal(err)
					}
					stored += len(ev.Data)
				}
			}
			b.ReportMetric(float64(stored)/float64(len(events)), "stored-B/event")
		})
	}
}
