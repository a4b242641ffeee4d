package ops

import (
	"context"
	"io"
)

// RunErr runs args as [Commands.Run] does, writing to stdout and stderr,
// and returns the exit status and the error that made the command fail.
func (c *Commands) RunErr(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	return c.run(ctx, args, stdout, stderr)
}
