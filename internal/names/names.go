// Package names holds what every store keeps as a name: the rule for an
// event's or a snapshot's type name, and for text in general. The
// stores' checks (package store/check) refuse by it what they are given
// to store; package codec and package upcast, which sits below the store
// and imports nothing of it, refuse by it when a type name is registered,
// so that a name no store keeps is a mistake found at start-up rather
// than at the first append.
package names

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTypeLen is the longest type name a store keeps, in bytes
// (store.MaxTypeLen).
const MaxTypeLen = 255

// Text reports whether s can be stored as text by every adapter:
// PostgreSQL refuses invalid UTF-8 and NUL bytes in text columns, so all
// adapters refuse them alike.
func Text(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// TypeName says what makes name a type name that no store keeps (empty,
// longer than [MaxTypeLen] bytes, not valid UTF-8 or holding a NUL byte),
// or returns "" when every store keeps it.
func TypeName(name string) string {
	switch {
	case name == "":
		return "type name is empty"
	case len(name) > MaxTypeLen:
		return fmt.Sprintf("type name %.32q… is %d bytes, the limit is %d", name, len(name), MaxTypeLen)
	case !Text(name):
		return fmt.Sprintf("type name %q is not valid UTF-8 or contains a NUL byte", name)
	}
	return ""
}
