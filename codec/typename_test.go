package codec_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// A name the codec registers is one an append stores.
func TestARegisteredNameIsStored(t *testing.T) {
	name := strings.Repeat("é", store.MaxTypeLen/2) // 254 bytes
	ev, err := codec.NewJSON[noted]().Register(name, noted{}).ToEvent(context.Background(), codec.Placement{StreamID: "s", Version: 1}, noted{}, store.Metadata{})
	if err != nil || check.Append("s", store.NoStream, []store.Event{ev}) != nil {
		t.Fatalf("the event of a %d-byte name: %v, %v", len(name), err, check.Append("s", store.NoStream, []store.Event{ev}))
	}
}

// named is a mapper of another package, as codec.PartOf takes it, that
// lists the type names it is given.
type named []string

func (named) ToEvent(context.Context, codec.Placement, noted, store.Metadata) (store.Event, error) {
	return store.Event{}, nil
}
func (named) FromRecord(context.Context, store.Record) (noted, error) { return noted{}, nil }
func (n named) Types() []string                                       { return n }

// A part of a sum that lists a type name no store keeps is refused as a
// part that lists none is, through Err, with the name's own refusal.
func TestSumRefusesAPartThatListsANameNoStoreKeeps(t *testing.T) {
	for _, name := range []string{"Noted\x00", "\xffNoted", strings.Repeat("n", store.MaxTypeLen+1), ""} {
		err := codec.NewSum[decider.Either[lit, noted]](litCodec(), codec.PartOf[noted](named{"Fine", name})).Err()
		if !errors.Is(err, codec.ErrUnencodable) || !errors.Is(err, store.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "case 1 (codec_test.noted) lists a type name that no store keeps: type name") {
			t.Errorf("a part that lists %.40q: %v; want ErrUnencodable and store.ErrInvalid, naming the case", name, err)
		}
	}
	if err := codec.NewSum[decider.Either[lit, noted]](litCodec(), codec.PartOf[noted](named{"Fine"})).Err(); err != nil {
		t.Errorf("a part that lists a good name: %v", err)
	}
}
