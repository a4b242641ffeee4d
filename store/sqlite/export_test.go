package sqlite

import (
	"context"
	"fmt"
)

// SetGroupHook makes s call hook at each stage of its group commits (see
// groupCommitter.hook). Set it before the first append.
func SetGroupHook(s *Store, hook func(stage string, wrote int) error) { s.group.hook = hook }

// QueuedAppends returns how many appends wait to join a group of s.
func QueuedAppends(s *Store) int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// KeepsTaggedAppendStatements reports whether s's cache holds the two
// statements of a tagged append, which their callers do not close.
func KeepsTaggedAppendStatements(s *Store) bool {
	s.dcb.mu.Lock()
	defer s.dcb.mu.Unlock()
	_, insert := s.dcb.stmts[dcbKey{s.w, insertTaggedSQL}]
	_, tag := s.dcb.stmts[dcbKey{s.w, insertTagSQL}]
	return insert && tag
}

// FillStatementCache fills s's cache of query shapes with trivial
// statements, as an application that read many shapes would have.
func FillStatementCache(s *Store) error {
	for i := 0; CachedStatements(s) < maxCachedStatements; i++ {
		if _, _, err := s.dcb.stmt(context.Background(), s.r, fmt.Sprintf("SELECT %d", i)); err != nil {
			return err
		}
	}
	return nil
}

// CachedStatements is how many statements s's cache of query shapes holds.
func CachedStatements(s *Store) int {
	s.dcb.mu.Lock()
	defer s.dcb.mu.Unlock()
	return len(s.dcb.stmts)
}
