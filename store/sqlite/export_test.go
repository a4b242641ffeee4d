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

// Checkpoints returns how many checkpoints s's checkpointer has run.
func Checkpoints(s *Store) int64 { return s.ckpt.runs.Load() }

// SetCheckpointPages sets, until t ends, after about how many pages of
// log the checkpointer runs. Tests that call it must not run in
// parallel.
func SetCheckpointPages(t interface{ Cleanup(func()) }, every int64) {
	old := checkpointPages
	checkpointPages = every
	t.Cleanup(func() { checkpointPages = old })
}
