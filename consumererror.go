package annals

import "fmt"

// ConsumerError is the error of a projection or saga that stopped on an
// event: the checkpoint stays before Position, so that the consumer
// resumes at that event once the cause is fixed.
type ConsumerError struct {
	Consumer string
	Position int64
	EventID  string
	Type     string
	Err      error
}

// Error says which consumer stopped, where, and why.
func (e *ConsumerError) Error() string {
	return fmt.Sprintf("consumer %q stopped at position %d (event %s, type %s): %v", e.Consumer, e.Position, e.EventID, e.Type, e.Err)
}

// Unwrap returns the handler's error.
func (e *ConsumerError) Unwrap() error { return e.Err }
