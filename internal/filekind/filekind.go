// Package filekind names the type of a file that is not regular, for the
// messages that refuse one: a key file, a settings file, the audit log.
package filekind

import "io/fs"

// Name names the type of mode m's file: "a directory", "a fifo", ...
func Name(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a fifo"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "mode " + m.Type().String()
}
