package codec

import (
	"fmt"
	"unicode/utf8"
)

// Pretty renders session JSON the way `cat` shows it: 2-space indent, ": "
// after keys, stored key order, non-ASCII as UTF-8 (escapes are kept only for
// control characters (C0, DEL, C1), '"', '\' and lone surrogates), and a trailing newline.
// It is a token-level rewrite (the mount calls it for every ls -l size); it
// checks bracket balance and string termination, not full JSON grammar.
func Pretty(sessionJSON []byte) ([]byte, error) {
	out, _, err := render(sessionJSON, make([]byte, 0, len(sessionJSON)+len(sessionJSON)/4+16), false)
	return out, err
}

// PrettySize is len(Pretty(sessionJSON)) without holding the rendering:
// a file's size is asked far more often than its content, and a large
// session's rendering is as large as the session.
func PrettySize(sessionJSON []byte) (int64, error) {
	out, n, err := render(sessionJSON, make([]byte, 0, 512), true)
	return n + int64(len(out)), err
}

// render appends sessionJSON's rendering to out. When count is set, it
// counts the runs of string and literal bytes it would copy instead, and
// empties out into the count as it goes, so out stays small; the count
// plus len(out) is then the rendering's size.
func render(sessionJSON, out []byte, count bool) ([]byte, int64, error) {
	var n int64
	in := sessionJSON
	var stack []byte
	indent := func() {
		out = append(out, '\n')
		for range len(stack) {
			out = append(out, ' ', ' ')
		}
	}
	bad := func(i int, msg string) ([]byte, int64, error) {
		return nil, 0, fmt.Errorf("%w: at byte %d: %s", ErrInvalidSession, i, msg)
	}
	for i := 0; i < len(in); {
		if count && len(out) >= 4096 {
			n += int64(len(out))
			out = out[:0]
		}
		switch ch := in[i]; ch {
		case ' ', '\t', '\n', '\r':
			i++
		case '{', '[':
			j := skipWS(in, i+1)
			if j < len(in) && in[j] == ch+2 { // '{'+2 == '}', '['+2 == ']'
				out = append(out, ch, ch+2)
				i = j + 1
				continue
			}
			out = append(out, ch)
			stack = append(stack, ch)
			indent()
			i++
		case '}', ']':
			if len(stack) == 0 || stack[len(stack)-1]+2 != ch {
				return bad(i, "unbalanced "+string(ch))
			}
			stack = stack[:len(stack)-1]
			indent()
			out = append(out, ch)
			i++
		case ',':
			out = append(out, ',')
			indent()
			i++
		case ':':
			out = append(out, ':', ' ')
			i++
		case '"':
			var (
				run int
				err error
			)
			if out, run, i, err = appendPrettyString(out, in, i, count); err != nil {
				return nil, 0, err
			}
			n += int64(run)
		default:
			j := i
			for j < len(in) && !isDelim(in[j]) {
				j++
			}
			if count {
				n += int64(j - i)
			} else {
				out = append(out, in[i:j]...)
			}
			i = j
		}
	}
	if len(stack) != 0 {
		return bad(len(in), "unterminated object or array")
	}
	return append(out, '\n'), n, nil
}

func skipWS(in []byte, i int) int {
	for i < len(in) && (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r') {
		i++
	}
	return i
}

// appendPrettyString copies the string starting at in[i] ('"'), turning
// \uXXXX escapes of printable characters (and surrogate pairs) into UTF-8.
// When count is set, runs without escapes are counted (skipped, in the
// returned count) instead of copied.
func appendPrettyString(out, in []byte, i int, count bool) ([]byte, int, int, error) {
	skipped := 0
	out = append(out, '"')
	i++
	for i < len(in) {
		if count && len(out) >= 4096 {
			skipped += len(out)
			out = out[:0]
		}
		ch := in[i]
		switch {
		case ch == '"':
			return append(out, '"'), skipped, i + 1, nil
		case ch != '\\':
			j := i + 1
			for j < len(in) && in[j] != '"' && in[j] != '\\' {
				j++
			}
			if count {
				skipped += j - i
			} else {
				out = append(out, in[i:j]...)
			}
			i = j
		case i+1 < len(in) && in[i+1] == 'u':
			r, ok := hexAt(in, i+2)
			if !ok {
				return nil, 0, 0, fmt.Errorf("%w: at byte %d: bad \\u escape", ErrInvalidSession, i)
			}
			switch {
			case r < 0x20 || r >= 0x7f && r < 0xa0 || r == '"' || r == '\\': // controls stay visible as escapes
				out = append(out, in[i:i+6]...)
				i += 6
			case r >= 0xd800 && r < 0xdc00:
				if lo, ok := hexAt(in, i+8); ok && in[i+6] == '\\' && in[i+7] == 'u' && lo >= 0xdc00 && lo < 0xe000 {
					out = utf8.AppendRune(out, 0x10000+(r-0xd800)<<10+(lo-0xdc00))
					i += 12
				} else {
					out = append(out, in[i:i+6]...) // lone surrogate stays escaped
					i += 6
				}
			case r >= 0xdc00 && r < 0xe000:
				out = append(out, in[i:i+6]...)
				i += 6
			default:
				out = utf8.AppendRune(out, r)
				i += 6
			}
		default:
			if i+1 >= len(in) {
				return nil, 0, 0, fmt.Errorf("%w: unterminated escape", ErrInvalidSession)
			}
			out = append(out, in[i], in[i+1])
			i += 2
		}
	}
	return nil, 0, 0, fmt.Errorf("%w: unterminated string", ErrInvalidSession)
}

func hexAt(in []byte, i int) (rune, bool) {
	if i+4 > len(in) {
		return 0, false
	}
	p := parser{in: in, pos: i}
	return p.hex4()
}

// isDelim reports the bytes that end a number or literal.
func isDelim(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\r', '{', '}', '[', ']', ',', ':', '"':
		return true
	}
	return false
}
