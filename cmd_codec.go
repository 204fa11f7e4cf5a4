package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/sessionfs/sessionfs/codec"
)

func codecCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "decode",
			Usage:     "decode one session_data value (a session file, or stdin) to JSON",
			ArgsUsage: "[FILE]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print format, serializer and the key that verified it to stderr"},
			},
			Action: decodeAction,
		},
		{
			Name:  "encode",
			Usage: "encode a JSON object from stdin as session_data Django accepts",
			Description: "Writes the session_data to stdout with no trailing newline (a newline would " +
				"break the signature if redirected into a session file), except on a terminal.",
			Action: encodeAction,
		},
	}
}

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

func decodeAction(c *cli.Context) error {
	cd, err := newCodec(c)
	if err != nil {
		return err
	}
	data, err := readInput(c)
	if err != nil {
		return err
	}
	js, info, err := cd.Decode(data)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	pretty, err := codec.Pretty(js)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if c.Bool("verbose") {
		fmt.Fprintf(os.Stderr, "format=%s serializer=%s key=%s", info.Format, info.Serializer, info.KeyName())
		if info.Algorithm != 0 {
			fmt.Fprintf(os.Stderr, " algorithm=%s", info.Algorithm)
		}
		if info.Compressed {
			fmt.Fprint(os.Stderr, " compressed")
		}
		fmt.Fprintln(os.Stderr)
	}
	_, err = os.Stdout.Write(pretty)
	return err
}

func encodeAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("encode reads the JSON object from stdin and takes no arguments")
	}
	cd, err := newCodec(c)
	if err != nil {
		return err
	}
	opt, err := encodeOptions(c)
	if err != nil {
		return err
	}
	js, err := readInput(c)
	if err != nil {
		return err
	}
	out, err := cd.Encode(js, opt)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if term.IsTerminal(int(os.Stdout.Fd())) {
		out = append(out, '\n')
	}
	_, err = os.Stdout.Write(out)
	return err
}
