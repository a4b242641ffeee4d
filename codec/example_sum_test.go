package codec_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// Lent and Joined are the events of two deciders, a book's and a
// member's, each with its own codec.
type (
	Lent   struct{ Member string }
	Joined struct{ Name string }
)

// Combining many books with many members gives Either events of Keyed
// parts. Each book is stored in a stream of its own, each member too; a
// record of the sum is the record of its part alone, so the sum is read
// from the log, with the key from the stream, by its parts' codecs.
func ExampleNewSum() {
	ctx := context.Background()
	books := codec.NewKeyed(codec.StreamPrefix[string]("book-"), codec.NewJSON[Lent]().Register("Lent", Lent{}))
	members := codec.NewKeyed(codec.StreamPrefix[string]("member-"), codec.NewJSON[Joined]().Register("Joined", Joined{}))

	type Event = decider.Either[decider.Keyed[string, Lent], decider.Keyed[string, Joined]]
	events := codec.NewSum[Event](books, members)

	lent := decider.Left[decider.Keyed[string, Lent], decider.Keyed[string, Joined]](decider.Keyed[string, Lent]{Key: "978-0", Value: Lent{Member: "ada"}})
	ev, err := events.ToEvent(ctx, codec.Placement{StreamID: "book-978-0", Version: 1}, lent, store.Metadata{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Type, string(ev.Data))

	back, err := events.FromRecord(ctx, store.Record{StreamID: "book-978-0", Version: 1, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data})
	fmt.Println(back, err)
	fmt.Println(events.Types())
	// Output:
	// Lent {"Member":"ada"}
	// Left({Key:"978-0" Value:Lent{Member:ada}}) <nil>
	// [Joined Lent]
}

// A Keyed event is stored in its instance's stream as its value alone:
// the key is the stream.
func ExampleNewKeyed() {
	ctx := context.Background()
	books := codec.NewKeyed(codec.StreamPrefix[string]("book-"), codec.NewJSON[Lent]().Register("Lent", Lent{}))

	e := decider.Keyed[string, Lent]{Key: "978-0", Value: Lent{Member: "ada"}}
	ev, _ := books.ToEvent(ctx, codec.Placement{StreamID: books.Streams().Stream(e.Key), Version: 1}, e, store.Metadata{})
	fmt.Println(ev.Type, string(ev.Data))

	_, err := books.ToEvent(ctx, codec.Placement{StreamID: "book-978-1", Version: 1}, e, store.Metadata{})
	fmt.Println(err)
	// Output:
	// Lent {"Member":"ada"}
	// encode an event of instance 978-0: its key is its stream, "book-978-0", and it was placed in "book-978-1": invalid input
}

// A prefix per kind of instance names their streams, and a stream gives
// its key back; a stream that no key is named by gives none.
func ExampleStreamPrefix() {
	books := codec.StreamPrefix[string]("book-")
	fmt.Println(books.Stream("978-0"))
	fmt.Println(books.Key("book-978-0"))
	fmt.Println(books.Key("member-ada"))

	tables := codec.StreamPrefix[int]("table-")
	fmt.Println(tables.Stream(7))
	fmt.Println(tables.Key("table-07"))
	// Output:
	// book-978-0
	// 978-0 true
	//  false
	// table-7
	// 0 false
}
