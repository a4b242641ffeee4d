package lending

import (
	"context"
	"errors"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
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

// Stored returns the lending desk's deciders stored on s, one stream per
// copy and one per member, as the composite of [Decider]. opts apply to
// both parts' runners.
func Stored(s *annals.Store, opts ...annals.RunnerOption) *annals.Composite[Command, Event, State] {
	books := annals.NewInstances(s, book.Decider, codec.NewKeyed(BookStreams, book.Codec()), opts...)
	members := annals.NewInstances(s, member.Decider, codec.NewKeyed(MemberStreams, member.Codec()), opts...)
	return annals.NewComposite(Decider, books, members)
}

// docs:end stored

// Library is the lending desk running on a store: the deciders, the
// clerk and the loans view, wired as one system.
type Library struct {
	System *annals.System
	Desk   *annals.Composite[Command, Event, State]
	loans  *annals.ViewProjection[Loans, Event]
	clerk  *annals.SagaRunner[Borrower, Event, Command]
}

// docs:begin open

// Open wires the library on s, to run in mode.
func Open(s *annals.Store, mode annals.Mode) (*Library, error) {
	sys, err := annals.NewSystem(s, mode)
	if err != nil {
		return nil, err
	}
	l := &Library{System: sys, Desk: Stored(s)}
	events := l.Desk.Events()
	l.loans = annals.NewViewProjection(s, "loans", LoansView, events, ByMember)
	l.clerk = annals.NewProcess(s, "clerk", Clerk, events, ByMember,
		func(ctx context.Context, c Command, cause annals.Cause) error {
			_, err := l.Desk.Handle(ctx, c, cause.Options()...)
			return err
		})
	if err := sys.Add(l.loans, l.clerk); err != nil {
		return nil, err
	}
	return l, nil
}

// docs:end open

// Handle sends a command to the desk.
func (l *Library) Handle(ctx context.Context, c Command) (annals.Result[Event, State], error) {
	return l.Desk.Handle(ctx, c)
}

// Loans returns a member's loans as the read model has them; a member
// the library has never heard of has none.
func (l *Library) Loans(ctx context.Context, memberID string) (Loans, error) {
	loans, err := l.loans.Get(ctx, memberID)
	if errors.Is(err, store.ErrNotFound) {
		return Loans{}, nil
	}
	return loans, err
}

// Borrower returns what the clerk knows of a member.
func (l *Library) Borrower(ctx context.Context, memberID string) (Borrower, error) {
	return l.clerk.State(ctx, memberID)
}
