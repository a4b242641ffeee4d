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
