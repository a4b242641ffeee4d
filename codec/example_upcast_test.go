package codec_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/upcast"
)

// MemberJoined is at schema version 2: version 1 called the member's name
// "owner".
type MemberJoined struct {
	Name string `json:"name"`
}

type clubState struct{ Members []string }

var club = decider.Decider[string, MemberJoined, clubState]{
	Decide: func(name string, _ clubState) ([]MemberJoined, error) { return []MemberJoined{{Name: name}}, nil },
	Evolve: func(s clubState, e MemberJoined) clubState {
		return clubState{Members: append(s.Members[:len(s.Members):len(s.Members)], e.Name)}
	},
}

// Renaming a field: register the type at its new schema version, and an
// upcaster that turns version 1 into version 2. Records stored by version
// 1 are upcast as they are read; new records are written as version 2.
func ExampleWithUpcaster() {
	ctx := context.Background()
	s := annals.New(memory.New())
	// A record written by the old code.
	if _, err := s.Append(ctx, "club-1", store.NoStream, []store.Event{{Type: "MemberJoined", SchemaVersion: 1, Data: []byte(`{"owner":"Ann"}`)}}); err != nil {
		fmt.Println(err)
		return
	}

	// docs:begin upcast
	jc := codec.NewJSON[MemberJoined]().RegisterVersion("MemberJoined", 2, MemberJoined{})
	upcasters := upcast.New().Add("MemberJoined", 1, upcast.RenameField("owner", "name"))
	clubs := annals.NewRunner(s, club, codec.NewMapper(jc, codec.WithUpcaster(upcasters)))
	// docs:end upcast

	res, err := clubs.Handle(ctx, "club-1", "Bob")
	fmt.Println(res.State.Members, err)
	for rec := range s.ReadStream(ctx, "club-1", 0) {
		fmt.Printf("v%d %s\n", rec.SchemaVersion, rec.Data)
	}
	// Output:
	// [Ann Bob] <nil>
	// v1 {"owner":"Ann"}
	// v2 {"name":"Bob"}
}
