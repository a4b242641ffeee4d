package annals

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// A command of a sum type, whose fields JSON does not see, is told apart
// by the case it holds and that case's command, nested sums and a pointer
// to a sum alike: two fingerprints are equal exactly when the commands
// are.
func TestTheFingerprintOfASumCommandIsItsCasesAndCommand(t *testing.T) {
	type cmd struct{ N int }
	type inner = decider.Either[cmd, cmd]
	type outer = decider.Either[inner, cmd]
	// gen draws a command as a path of cases and a number.
	gen := rapid.Custom(func(t *rapid.T) outer {
		n := cmd{rapid.IntRange(0, 2).Draw(t, "n")}
		switch rapid.IntRange(0, 2).Draw(t, "case") {
		case 0:
			return decider.Left[inner, cmd](decider.Left[cmd, cmd](n))
		case 1:
			return decider.Left[inner, cmd](decider.Right[cmd](n))
		}
		return decider.Right[inner](n)
	})
	var check codec.JSONCheck
	rapid.Check(t, func(t *rapid.T) {
		a, b := gen.Draw(t, "a"), gen.Draw(t, "b")
		fa, err := fingerprint(&check, a)
		if err != nil {
			t.Fatalf("fingerprint %+v: %v", a, err)
		}
		fb, err := fingerprint(&check, &b)
		if err != nil {
			t.Fatalf("fingerprint &%+v: %v", b, err)
		}
		if same := fa == fb; same != (a == b) {
			t.Fatalf("fingerprints of %+v and %+v equal: %v, want %v", a, b, same, a == b)
		}
	})
}
