package lending

import (
	"context"
	"errors"
	"slices"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/store"
)

// docs:begin stored

// The streams of the desk's instances: "book-<isbn>" for a copy and
// "member-<id>" for a member.
var (
	BookStreams   = codec.StreamPrefix[string]("book-")
	MemberStreams = codec.StreamPrefix[string]("member-")
)

// Stored returns the desk's deciders stored on s, one stream per copy
// and one per member, as the composite of [Decider]. Each instance tags
// its events with its key, so that the queries of loans find them. opts
// apply to both parts' runners.
func Stored(s *annals.Store, opts ...annals.RunnerOption) *annals.Composite[Command, Event, State] {
	books := annals.NewInstances(s, book.Decider, codec.NewKeyed(BookStreams, book.Codec()),
		append(slices.Clip(opts), annals.WithTags(func(e decider.Keyed[string, book.Event]) []string {
			return Tags(OfDesk(OfBook(e.Key, e.Value)))
		}))...)
	members := annals.NewInstances(s, member.Decider, codec.NewKeyed(MemberStreams, member.Codec()),
		append(slices.Clip(opts), annals.WithTags(func(e decider.Keyed[string, member.Event]) []string {
			return Tags(OfDesk(OfMember(e.Key, e.Value)))
		}))...)
	return annals.NewComposite(Decider, books, members)
}

// docs:end stored

// Library is the lending desk running on a store: the copies and members
// on their streams, the loans on dynamic consistency boundaries, the
// clerk and the holdings view, wired as one system.
type Library struct {
	System *annals.System
	Desk   *annals.Composite[Command, Event, State]
	Loans  *annals.DCBRunner[LoanCommand, LogEvent, Ledger]
	view   *annals.ViewProjection[Holdings, LogEvent]
	clerk  *annals.SagaRunner[Borrower, LogEvent, Command]
}

// docs:begin open

// Open wires the library on s, to run in mode.
func Open(s *annals.Store, mode annals.Mode) (*Library, error) {
	sys, err := annals.NewSystem(s, mode)
	if err != nil {
		return nil, err
	}
	events := Events()
	l := &Library{
		System: sys,
		Desk:   Stored(s),
		Loans:  annals.NewDCBRunner(s, Loans, events),
	}
	l.view = annals.NewViewProjection(s, "holdings", HoldingsView, events, ByMember)
	l.clerk = annals.NewProcess(s, "clerk", Clerk, events, ByMember,
		func(ctx context.Context, c Command, cause annals.Cause) error {
			_, err := l.Desk.Handle(ctx, c, cause.Options()...)
			return err
		})
	if err := sys.Add(l.view, l.clerk); err != nil {
		return nil, err
	}
	return l, nil
}

// docs:end open

// Handle sends a command to a copy or a member, on its stream.
func (l *Library) Handle(ctx context.Context, c Command) (annals.Result[Event, State], error) {
	return l.Desk.Handle(ctx, c)
}

// HandleLoan decides a checkout or a return on the events of its copy
// and, for a checkout, of its member.
func (l *Library) HandleLoan(ctx context.Context, c LoanCommand) (annals.DCBResult[LogEvent, Ledger], error) {
	return l.Loans.Handle(ctx, c)
}

// Holdings returns a member's holdings as the read model has them; a
// member the library has never heard of holds nothing.
func (l *Library) Holdings(ctx context.Context, memberID string) (Holdings, error) {
	h, err := l.view.Get(ctx, memberID)
	if errors.Is(err, store.ErrNotFound) {
		return Holdings{}, nil
	}
	return h, err
}

// Borrower returns what the clerk knows of a member.
func (l *Library) Borrower(ctx context.Context, memberID string) (Borrower, error) {
	return l.clerk.State(ctx, memberID)
}
