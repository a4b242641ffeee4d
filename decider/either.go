package decider

// Either holds exactly one of a left value L or a right value R. It routes
// commands and events between two combined deciders. Build one with [Left]
// or [Right]; the zero Either holds the zero left value.
type Either[L, R any] struct {
	left    L
	right   R
	isRight bool
}

// Left returns an Either that holds the left value l.
func Left[L, R any](l L) Either[L, R] { return Either[L, R]{left: l} }

// Right returns an Either that holds the right value r.
func Right[L, R any](r R) Either[L, R] { return Either[L, R]{right: r, isRight: true} }

// IsRight reports whether e holds a right value.
func (e Either[L, R]) IsRight() bool { return e.isRight }

// Left returns the left value and true, or the zero value and false when e
// holds a right value.
func (e Either[L, R]) Left() (L, bool) { return e.left, !e.isRight }

// Right returns the right value and true, or the zero value and false when e
// holds a left value.
func (e Either[L, R]) Right() (R, bool) { return e.right, e.isRight }

// Pair is the state of two combined deciders.
type Pair[A, B any] struct {
	First  A
	Second B
}

// Keyed is a command or event addressed to the instance Key of a [Many]
// decider.
type Keyed[K comparable, V any] struct {
	Key   K
	Value V
}
