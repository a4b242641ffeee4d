package main

import (
	"fmt"
	"io"
	"time"
)

// progress shows how far a long command has gone, on stderr: on a
// terminal one line redrawn in place at most ten times a second, else a
// plain line when a phase starts and ends and every few seconds
// between, which suits logs.
type progress struct {
	w      io.Writer
	tty    bool
	prefix string
	every  time.Duration

	phase     string
	phaseAt   time.Time // when the phase started
	startDone int64     // done when the phase started
	last      time.Time // when a line was last shown
	ended     bool      // the phase's last line is shown
	open      bool      // a terminal line awaits its newline
}

func newProgress(c *cli, prefix string) *progress {
	p := &progress{w: c.stderr, tty: c.tty, prefix: prefix, every: 2 * time.Second}
	if p.tty {
		p.every = 100 * time.Millisecond
	}
	return p
}

// report shows done of total items of phase, with the rate since the
// phase started.
func (p *progress) report(phase string, done, total int64) {
	p.enter(phase, done)
	p.show(done, total, done-p.startDone, time.Since(p.phaseAt))
}

// reportRun is report for a phase that says how many of the items done
// its run did, and in how long: a resumed copy's events begin at those
// an earlier run copied, which count for no rate.
func (p *progress) reportRun(phase string, done, total, run int64, elapsed time.Duration) {
	p.enter(phase, done)
	p.show(done, total, run, elapsed)
}

// enter starts phase, unless it is the current one.
func (p *progress) enter(phase string, done int64) {
	if phase != p.phase {
		p.done()
		p.phase, p.phaseAt, p.startDone, p.ended = phase, time.Now(), done, false
		p.last = time.Time{}
	}
}

// show shows a line unless one was shown too recently; the first and
// the last of a phase are always shown.
func (p *progress) show(done, total, run int64, elapsed time.Duration) {
	now := time.Now()
	final := total > 0 && done >= total
	if p.ended || (!final && !p.last.IsZero() && now.Sub(p.last) < p.every) {
		return
	}
	p.last, p.ended = now, final
	line := fmt.Sprintf("%s: %s %d", p.prefix, p.phase, done)
	if total > 0 {
		line += fmt.Sprintf("/%d (%d%%)", total, done*100/total)
	}
	if secs := elapsed.Seconds(); run > 0 && secs > 0 {
		rate := float64(run) / secs
		line += fmt.Sprintf(", %.0f/s", rate)
		if total > done {
			line += fmt.Sprintf(", %v left", time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.open = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// done ends the current phase's line on a terminal.
func (p *progress) done() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}
