// Package annalsnats publishes the events of an annals store to NATS
// JetStream: a [Publisher] is the [annals.Publisher] of an
// [annals.Relay], which reads the store's global log and moves its
// checkpoint once JetStream has acknowledged what it published. It is a
// module of its own, so that a program that does not import it links no
// NATS client.
//
//	s, err := annals.Open(ctx, os.Getenv(annals.EnvVar))
//	// Reconnect for ever: a connection that gave up is closed for good,
//	// and every publish through it fails until the program restarts.
//	nc, err := nats.Connect(nats.DefaultURL, nats.MaxReconnects(-1))
//	js, err := jetstream.New(nc)
//	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
//		Name:       "ANNALS",
//		Subjects:   []string{"annals.>"},
//		Duplicates: time.Hour, // longer than a relay may stay down: see below
//	})
//	pub, err := annalsnats.NewPublisher(js)
//	relay, err := annals.NewRelay(s, "to-nats", pub)
//	err = relay.Run(ctx)
//
// Run returns at the first failure, of NATS or of the store. A relay
// added to an Async [annals.System] is retried instead, after a growing
// pause, each failure reported to the system's OnError: a NATS outage
// ends in the relay catching up. Only a record NATS refuses for good
// stops it (see below).
//
// # Messages
//
// Each record is one message, published to "annals." +
// [SubjectToken](rec.Type) by default ([WithSubjectPrefix] and
// [WithSubject] choose others); the subjects must be bound to a stream.
// The message's body is rec.Data as stored, encoded and encrypted as it
// is in the store; its Nats-Msg-Id is rec.ID; its headers, named by the
// Header constants, carry the rest of the record. A subscriber rebuilds
// the record with [Record] (or [RecordFromHeaders] from a core NATS
// message) and decodes it as a consumer of the store would. The headers
// take about 250 bytes of a message, more with long stream IDs, tags or
// metadata, and count against the stream's MaxMsgSize and the server's
// max_payload. A record too large for them, or one [WithSubject] gives no
// subject a message can have, is refused for good: the publisher says so
// with an [annals.RefusedError], and the relay stops at that record as a
// projection stops at an event its handler fails on. The records before
// it pass, its checkpoint stays before it, and a System reports it
// stopped ([annals.ConsumerError]). Raise the stream's limit and replay
// the relay (the application's ops command, or [annals.System.Retry]),
// or move its checkpoint past the record (ops reset), which leaves the
// record unpublished. The stream's MaxMsgSize is checked by the server,
// so the records after the refused one in its batch are stored (see
// below) and the refused one, once taken, lands after them; max_payload
// is checked by the client, which publishes nothing after it. Any other
// failure (a server down, a stream full or missing, no acknowledgement
// in time) passes, and the relay tries the batch again.
//
// # Each event once
//
// A relay that stops after JetStream acknowledged a batch but before its
// checkpoint moved publishes the batch again when it starts, under the
// same IDs, and JetStream drops each message whose Nats-Msg-Id it has
// seen: the stream holds every event once, in the log's order. That
// holds only within the stream's duplicate window
// (StreamConfig.Duplicates, 2 minutes by default, at most the stream's
// MaxAge): a message published again after it is stored again. Make the
// window longer than a relay may stay down between an acknowledgement
// and its checkpoint, restarts and outages included; a subscriber that
// must never see an event twice also remembers the IDs (Nats-Msg-Id) it
// has handled.
//
// A batch whose publish fails in the middle (a stream full, a leader
// changing) may leave the records after the failure stored: published
// again, they are dropped, and the failed record lands after them. A
// subscriber that needs the log's order across such a failure orders by
// Annals-Position.
package annalsnats
