package annalsnats_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/annals-dev/annals/store"
)

// runServer starts a NATS server with JetStream in this process, on a
// random port of the loopback interface, storing in dir.
func runServer(dir string) (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		return nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("the NATS server did not get ready in 10s")
	}
	return ns, nil
}

// tester is what the helpers need of a *testing.T or a *rapid.T.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// broker is a NATS server with JetStream, for one test.
type broker struct {
	server *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
}

func newBroker(t testing.TB) *broker {
	t.Helper()
	ns, err := runServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	b := &broker{server: ns}
	b.nc, b.js = b.connect(t)
	return b
}

// connect opens a connection of its own, as another process would,
// closed when the test ends.
func (b *broker) connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js := b.dial(t)
	t.Cleanup(nc.Close)
	return nc, js
}

// dial opens a connection of its own, which the caller closes.
func (b *broker) dial(t tester) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(b.server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return nc, js
}

// stream creates a stream of the subjects under prefix, in memory.
func (b *broker) stream(t tester, name, prefix string, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	cfg.Name, cfg.Subjects, cfg.Storage = name, []string{prefix + ".>"}, jetstream.MemoryStorage
	s, err := b.js.CreateStream(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// messages returns every message the stream holds, in its order.
func messages(t tester, s jetstream.Stream) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Msgs)
	if n == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for len(msgs) < n {
		batch, err := c.Fetch(n-len(msgs), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		before := len(msgs)
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if batch.Error() != nil || len(msgs) == before {
			t.Fatalf("fetched %d of the stream's %d messages: %v", len(msgs), n, batch.Error())
		}
	}
	for i, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			prev, _ := msgs[i-1].Metadata()
			if md.Sequence.Stream <= prev.Sequence.Stream {
				t.Fatalf("message %d has stream sequence %d after %d", i, md.Sequence.Stream, prev.Sequence.Stream)
			}
		}
	}
	return msgs
}

// sameRecord says how got differs from want, field by field; "" when it
// does not.
func sameRecord(got, want store.Record) string {
	var diffs []string
	check := func(field string, equal bool, g, w any) {
		if !equal {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", field, g, w))
		}
	}
	check("ID", got.ID == want.ID, got.ID, want.ID)
	check("StreamID", got.StreamID == want.StreamID, got.StreamID, want.StreamID)
	check("Version", got.Version == want.Version, fmt.Sprint(got.Version), fmt.Sprint(want.Version))
	check("Position", got.Position == want.Position, fmt.Sprint(got.Position), fmt.Sprint(want.Position))
	check("Type", got.Type == want.Type, got.Type, want.Type)
	check("SchemaVersion", got.SchemaVersion == want.SchemaVersion, fmt.Sprint(got.SchemaVersion), fmt.Sprint(want.SchemaVersion))
	check("Time", got.Time.Equal(want.Time) && got.Time.Location() == time.UTC, got.Time.String(), want.Time.String())
	check("Data", bytes.Equal(got.Data, want.Data), got.Data, want.Data)
	check("Encoding", got.Encoding == want.Encoding, got.Encoding, want.Encoding)
	check("CorrelationID", got.Metadata.CorrelationID == want.Metadata.CorrelationID, got.Metadata.CorrelationID, want.Metadata.CorrelationID)
	check("CausationID", got.Metadata.CausationID == want.Metadata.CausationID, got.Metadata.CausationID, want.Metadata.CausationID)
	check("Extra", maps.Equal(got.Metadata.Extra, want.Metadata.Extra), fmt.Sprint(got.Metadata.Extra), fmt.Sprint(want.Metadata.Extra))
	check("Tags", slices.Equal(got.Tags, want.Tags), fmt.Sprint(got.Tags), fmt.Sprint(want.Tags))
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}
