package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
)

// maxInput bounds what decode and encode read from a file or stdin.
const maxInput = 64 << 20

// readInput reads decode's FILE (a regular file: a pipe is given on stdin)
// or stdin, at most maxInput bytes.
func readInput(c *cli.Context) ([]byte, error) {
	switch c.NArg() {
	case 0:
		return readStdin(c, "stdin", maxInput)
	case 1:
		path := c.Args().First()
		b, err := readUserFile("input file", path, maxInput)
		if errors.Is(err, errFileTooLarge) {
			return nil, inputTooLarge("input file "+path, maxInput)
		}
		return b, err
	}
	return nil, usageErrorf("%s takes at most one FILE, got %d arguments", c.Command.Name, c.NArg())
}

// readStdin reads stdin (what names it in messages), at most limit bytes.
func readStdin(c *cli.Context, what string, limit int64) ([]byte, error) {
	b, err := readBounded(c.App.Reader, limit)
	if errors.Is(err, errFileTooLarge) {
		return nil, inputTooLarge(what, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return b, nil
}

// inputTooLarge is the error of input over its bound: too large, as a
// session over the size bounds is, with the same exit code.
func inputTooLarge(what string, limit int64) error {
	return fmt.Errorf("reading %s: %w (more than %d bytes)", what, codec.ErrTooLarge, limit)
}
