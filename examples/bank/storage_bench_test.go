package bank_test

import (
	"context"
	"testing"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/examples/bank"
	"github.com/annals-dev/annals/store"
)

// history is a year of a busy account: an opening, then deposits and
// withdrawals of realistic amounts.
func history() []bank.Event {
	events := []bank.Event{bank.Opened{Owner: "Ada Lovelace"}}
	for i := range 365 {
		if i%3 == 0 {
			events = append(events, bank.Withdrawn{Amount: int64(1_000 + i*37%9_000)})
		} else {
			events = append(events, bank.Deposited{Amount: int64(10_000 + i*7919%90_000)})
		}
	}
	return events
}

// BenchmarkStoredBytes reports the payload bytes stored per bank event,
// plain and with compression (which applies only where it makes a payload
// smaller) and encryption (which adds a 12-byte nonce and a 16-byte tag).
func BenchmarkStoredBytes(b *testing.B) {
	key, err := codec.ParseKey("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		b.Fatal(err)
	}
	kr, err := codec.NewKeyring(key)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		m    codec.Mapper[bank.Event]
	}{
		{"plain", bank.Codec()},
		{"deflate", codec.NewMapper(bank.Codec(), codec.WithCompression())},
		{"deflate+aes256gcm", codec.NewMapper(bank.Codec(), codec.WithCompression(), codec.WithEncryption(kr))},
	} {
		b.Run(c.name, func(b *testing.B) {
			events := history()
			ctx := context.Background()
			var stored int
			for b.Loop() {
				stored = 0
				for i, e := range events {
					ev, err := c.m.ToEvent(ctx, codec.Placement{StreamID: "account-1", Version: int64(i + 1)}, e, store.Metadata{})
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
