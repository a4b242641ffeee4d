// Package cliflags parses the command lines of the annals tool and of an
// application's ops commands: flags before a command's name and among its
// arguments, as git and kubectl take them, and "--" to end them wherever
// it comes.
package cliflags

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/samber/lo"
)

// Leading parses the flags before the command's name with fs, and returns
// the command's name and its arguments. When "--" ended those flags, the
// arguments begin with "--", so that [Interleaved] takes none of them as
// a flag. An empty name means that args hold no command.
func Leading(fs *flag.FlagSet, args []string) (name string, rest []string, err error) {
	if err := flagAsValue(fs, args); err != nil {
		return "", nil, err
	}
	if err := fs.Parse(args); err != nil {
		return "", nil, err
	}
	rest = fs.Args()
	if len(rest) == 0 {
		return "", nil, nil
	}
	if ended(fs, args, rest) {
		return rest[0], append([]string{"--"}, rest[1:]...), nil
	}
	return rest[0], rest[1:], nil
}

// Interleaved parses the flags of fs wherever they come among args, and
// returns the other arguments in order. "--" ends the flags. A negative
// number that is no flag's value is an argument, not a flag: the command
// then says what is wrong with it (reset NAME -1).
func Interleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := flagAsValue(fs, args); err != nil {
		return nil, err
	}
	var positional []string
	for {
		j := negativeAt(fs, args)
		seg := args[:j]
		for len(seg) > 0 {
			if err := fs.Parse(seg); err != nil {
				return nil, err
			}
			rest := fs.Args()
			if ended(fs, seg, rest) {
				return append(append(positional, rest...), args[j:]...), nil
			}
			if len(rest) == 0 {
				break
			}
			positional, seg = append(positional, rest[0]), rest[1:]
		}
		if j == len(args) {
			return positional, nil
		}
		positional, args = append(positional, args[j]), args[j+1:]
	}
}

// flagAsValue refuses a flag of fs that would take another of its flags
// as its value, before any "--" that ends the flags: "-from $UNSET -to
// URL" leaves -from no value of its own, and would otherwise read "-to"
// as it. A value that looks like a flag is given as -name=value.
func flagAsValue(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args)-1; i++ {
		switch {
		case args[i] == "--":
			return nil
		case takesValue(fs, args[i]):
			if next := args[i+1]; isFlag(fs, next) {
				return fmt.Errorf("flag %s was given no value: the flag %s follows it (an empty variable leaves nothing in between); a value that begins with a dash is given as %s=value", args[i], next, args[i])
			}
			i++ // its value
		}
	}
	return nil
}

// isFlag says whether arg names a flag of fs, as -name, --name or
// -name=value.
func isFlag(fs *flag.FlagSet, arg string) bool {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok {
		return false
	}
	name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
	return name != "" && fs.Lookup(name) != nil
}

// negativeAt returns the index of the first argument of args that is a
// negative number, neither a flag of fs nor the value of the flag before
// it, and before any "--" that ends the flags; len(args) when there is
// none.
func negativeAt(fs *flag.FlagSet, args []string) int {
	for i, a := range args {
		value := i > 0 && takesValue(fs, args[i-1])
		switch {
		case value:
		case a == "--":
			return len(args)
		case len(a) > 1 && a[0] == '-' && fs.Lookup(a[1:]) == nil:
			if _, err := strconv.ParseFloat(a, 64); err == nil {
				return i
			}
		}
	}
	return len(args)
}

// ended says whether the parse of args by fs that left rest stopped at
// "--", which the flag package drops, rather than took it as the value of
// the flag before it (-store --).
func ended(fs *flag.FlagSet, args, rest []string) bool {
	used := len(args) - len(rest)
	return used > 0 && args[used-1] == "--" && !(used > 1 && takesValue(fs, args[used-2]))
}

// takesValue says whether arg is a flag of fs that takes the next
// argument as its value: not a boolean one, and not given as -name=value.
func takesValue(fs *flag.FlagSet, arg string) bool {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimPrefix(name, "-"))
	if f == nil {
		return false
	}
	b, isBool := f.Value.(interface{ IsBoolFlag() bool })
	return !isBool || !b.IsBoolFlag()
}

// AsksJSON reports whether args set -json before any "--", the last
// setting winning: the flag that a bad flag before it kept from being
// parsed.
func AsksJSON(args []string) bool {
	before, _, _ := lo.Cut(args, []string{"--"})
	json := false
	for _, a := range before {
		name, value, set := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "json" {
			continue
		}
		on, err := strconv.ParseBool(value) // as the flag package reads it
		json = !set || err == nil && on
	}
	return json
}
