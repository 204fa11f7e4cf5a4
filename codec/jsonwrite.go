package codec

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// appendCompact writes n as Python's json.dumps(separators=(",", ":")) with
// ensure_ascii: ASCII only, \uXXXX in lower-case hex, surrogate pairs.
func appendCompact(dst []byte, n *node) []byte {
	switch n.kind {
	case kNull:
		return append(dst, "null"...)
	case kFalse:
		return append(dst, "false"...)
	case kTrue:
		return append(dst, "true"...)
	case kNum, kRaw:
		return append(dst, n.text...)
	case kStr:
		return appendPyString(dst, n.text)
	case kArr:
		dst = append(dst, '[')
		for i := range n.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCompact(dst, &n.items[i])
		}
		return append(dst, ']')
	case kObj:
		dst = append(dst, '{')
		for i := range n.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendPyString(dst, n.keys[i])
			dst = append(dst, ':')
			dst = appendCompact(dst, &n.items[i])
		}
		return append(dst, '}')
	}
	return dst
}

// appendPyString writes s (WTF-8) as a JSON string the way Python's
// ensure_ascii encoder does.
func appendPyString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		ch := s[i]
		if ch < utf8.RuneSelf {
			switch {
			case ch == '"':
				dst = append(dst, '\\', '"')
			case ch == '\\':
				dst = append(dst, '\\', '\\')
			case ch == '\n':
				dst = append(dst, '\\', 'n')
			case ch == '\r':
				dst = append(dst, '\\', 'r')
			case ch == '\t':
				dst = append(dst, '\\', 't')
			case ch == '\b':
				dst = append(dst, '\\', 'b')
			case ch == '\f':
				dst = append(dst, '\\', 'f')
			case ch < 0x20 || ch == 0x7f: // Python escapes all but ' '..'~'
				dst = appendU4(dst, rune(ch))
			default:
				dst = append(dst, ch)
			}
			i++
			continue
		}
		r, size := decodeWTF8(s[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			dst = appendU4(dst, 0xd800+(r>>10))
			dst = appendU4(dst, 0xdc00+(r&0x3ff))
		} else {
			dst = appendU4(dst, r)
		}
	}
	return append(dst, '"')
}

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// decodeWTF8 is utf8.DecodeRuneInString that also returns encoded surrogates.
// Invalid bytes (never produced by our parsers) come back as U+FFFD.
func decodeWTF8(s string) (rune, int) {
	if len(s) >= 3 && s[0] == 0xed && s[1] >= 0xa0 && s[1] <= 0xbf && s[2]&0xc0 == 0x80 {
		return 0xd000 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), 3
	}
	return utf8.DecodeRuneInString(s)
}
