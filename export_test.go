package annals

// WaitingTurns returns how many streams have a command of r holding or
// waiting for their turn (see turns).
func WaitingTurns[C, E, S any](r *Runner[C, E, S]) int {
	r.turns.mu.Lock()
	defer r.turns.mu.Unlock()
	return len(r.turns.m)
}
