package main

import (
	"slices"
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// Flags after positional arguments move before them, values with them.
		{"put KEY --create", "put --create KEY"},
		{"put KEY --session-file-path /d --keep-mtime", "put --session-file-path /d --keep-mtime KEY"},
		{"rm a b --audit-log /l c", "rm --audit-log /l a b c"},
		{"decode FILE -v", "decode -v FILE"},
		{"mount /mnt --force --max-inodes -1", "mount --force --max-inodes -1 /mnt"},
		{"show KEY --cookie-name=x", "show --cookie-name=x KEY"},
		// A value that looks like a flag stays a value.
		{"show KEY --key-salt --create", "show --key-salt --create KEY"},
		// Global flags stay before the command; its own move.
		{"--session-file-path /d rm KEY --session-file-path /e", "--session-file-path /d rm --session-file-path /e KEY"},
		{"--no-fsync put KEY --create", "--no-fsync put --create KEY"},
		// "--" ends the flags: what follows stays positional.
		{"rm a -- --b", "rm -- a --b"},
		{"rm --audit-log /l -- -x", "rm --audit-log /l -- -x"},
		{"decode -", "decode -"},
		// Nothing to move, nested commands, unknown commands.
		{"ls --json", "ls --json"},
		{"generate man", "generate man"},
		{"nosuch KEY --x", "nosuch KEY --x"},
		{"", ""},
		// Help after a KEY shows the command's help.
		{"put KEY --help", "put --help"},
		{"put KEY -- --help", "put -- KEY --help"},
		// Shell completion is left alone.
		{"put KEY --cr --generate-bash-completion", "put KEY --cr --generate-bash-completion"},
	} {
		in := append([]string{"sessionfs"}, strings.Fields(c.in)...)
		got := interspersed(newApp(), in)
		want := append([]string{"sessionfs"}, strings.Fields(c.want)...)
		if !slices.Equal(got, want) {
			t.Errorf("interspersed(%q) = %q, want %q", c.in, got[1:], want[1:])
		}
	}
}
