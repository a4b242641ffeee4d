package annals

// WaitingTurns returns how many streams have a command of r holding or
// waiting for their turn (see turns).
func WaitingTurns[C, E, S any](r *Runner[C, E, S]) int {
	r.turns.mu.Lock()
	defer r.turns.mu.Unlock()
	return len(r.turns.m)
}

// QueuedCommands returns how many commands of r wait for the turn of
// streamID, not counting the one that holds it.
func QueuedCommands[C, E, S any](r *Runner[C, E, S], streamID string) int {
	r.turns.mu.Lock()
	defer r.turns.mu.Unlock()
	if t := r.turns.m[streamID]; t != nil {
		return len(t.queue)
	}
	return 0
}
