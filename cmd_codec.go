package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/sessionfs/sessionfs/codec"
)

// decodeCommand is `sessionfs decode`.
func decodeCommand() *cli.Command {
	return &cli.Command{
		Name:      "decode",
		Usage:     "decode one session_data value (a session file, or stdin) to JSON",
		ArgsUsage: "[FILE]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print format, serializer and the key that verified it to stderr"},
		},
		Action: decodeAction,
	}
}

// encodeCommand is `sessionfs encode`.
func encodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "encode",
		Usage: "encode a JSON object from stdin as session_data Django accepts",
		Description: "Writes the session_data to stdout with no trailing newline (a newline would " +
			"break the signature if redirected into a session file), except on a terminal.",
		Action: encodeAction,
	}
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
