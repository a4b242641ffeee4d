package codec_test

import (
	"errors"
	"fmt"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// Deposited is an event of the examples.
type Deposited struct {
	Amount int64 `json:"amount"`
}

// A decider.Either keeps its value in unexported fields, so JSON would
// store every one as {}. The codec refuses it when it is registered, and
// from then on refuses to encode or decode anything, so that nothing is
// stored without its content. The error says how a sum is stored: by its
// parts, with codec.NewSum.
func ExampleJSON_Err() {
	c := codec.NewJSON[any]().
		Register("Deposited", Deposited{}).
		Register("Either", decider.Right[int]("x"))

	fmt.Println(errors.Is(c.Err(), codec.ErrUnencodable))
	fmt.Println(c.Err())
	_, _, _, err := c.Encode(Deposited{Amount: 5})
	fmt.Println(errors.Is(err, codec.ErrUnencodable))
	// Output:
	// true
	// register "Either" (decider.Either[int,string]): the type has no exported fields (only left, right, isRight) and does not implement json.Marshaler, so JSON would store every value as {}; a sum of package decider is stored by its parts: for events that are the sum, build their mapper with codec.NewSum from a mapper per case, which stores each case as its part alone; in a field, or in a view's or process's state, hold each case in a field of its own instead (a pointer per case, all nil but one): unencodable type
	// true
}
