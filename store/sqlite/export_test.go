package sqlite

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

// CachedStatements is how many statements s's cache of query shapes holds.
func CachedStatements(s *Store) int {
	s.dcb.mu.Lock()
	defer s.dcb.mu.Unlock()
	return len(s.dcb.stmts)
}
