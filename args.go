package main

// Flags after positional arguments: Go's flag package, and so urfave/cli v2,
// stops at the first argument that is not a flag, so `sessionfs put KEY
// --create` would hand "--create" to put as a second KEY. interspersed
// moves a command's flags before its positional arguments once, for every
// command, before the CLI parses anything.

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed returns args (args[0] is the program) with the flags of the
// command that runs moved before its positional arguments, in their order.
// Flags before the command name stay where they are, "--" still ends the
// flags (what follows it stays positional), and a flag's value is never
// taken for a flag. Shell completion (--generate-bash-completion last) is
// left alone: urfave/cli completes from the raw os.Args.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == "--"+cli.BashCompletionFlag.Names()[0] {
		return args
	}
	out := append([]string{}, args[0])
	flags, cmds := app.Flags, app.Commands
	rest := args[1:]
	for {
		// A level with subcommands: its own flags, then a subcommand name.
		i := skipFlags(rest, flags)
		out = append(out, rest[:i]...)
		if i == len(rest) || rest[i] == "--" {
			return append(out, rest[i:]...)
		}
		cmd := findCommand(cmds, rest[i])
		if cmd == nil {
			// Unknown command, or help: urfave/cli says what it makes of it.
			return append(out, rest[i:]...)
		}
		out = append(out, rest[i])
		rest = rest[i+1:]
		if len(cmd.Subcommands) > 0 {
			flags, cmds = cmd.Flags, cmd.Subcommands
			continue
		}
		return append(out, reorder(rest, cmd.Flags)...)
	}
}

// reorder puts the flags (with their values) of a leaf command's arguments
// before its positional arguments.
func reorder(args []string, flags []cli.Flag) []string {
	var opts, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if len(positional) == 0 {
				return append(opts, args[i:]...)
			}
			// Everything after "--" is positional; one "--" in front of
			// all the positional arguments keeps them so.
			return append(append(append(opts, "--"), positional...), args[i+1:]...)
		case !isFlag(a):
			positional = append(positional, a)
		case takesValue(a, flags) && i+1 < len(args):
			opts = append(opts, a, args[i+1])
			i++
		default:
			opts = append(opts, a)
		}
	}
	if helpAsked(opts) {
		// urfave/cli takes the arguments of --help for a help topic.
		return opts
	}
	return append(opts, positional...)
}

// helpAsked reports whether opts hold the help flag.
func helpAsked(opts []string) bool {
	for _, a := range opts {
		for _, n := range cli.HelpFlag.Names() {
			if strings.TrimLeft(a, "-") == n {
				return true
			}
		}
	}
	return false
}

// skipFlags returns the index of the first argument that is not a flag or a
// flag's value (len(args) when there is none).
func skipFlags(args []string, flags []cli.Flag) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--" || !isFlag(a):
			return i
		case takesValue(a, flags):
			i++
		}
	}
	return len(args)
}

// isFlag is Go's flag package's view: "-x" or "--x", but not "-" alone.
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether flag argument a (without "=value") names a
// flag that takes its value from the next argument. Unknown flags take
// none: the parser then reports them.
func takesValue(a string, flags []cli.Flag) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if v, ok := f.(cli.DocGenerationFlag); ok {
				return v.TakesValue()
			}
			return false
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
