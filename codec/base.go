package codec

import (
	"encoding/base64"
	"fmt"
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendBase62 writes n as Django's b62_encode does: most significant digit
// first, "0" for zero, a leading "-" for negatives.
func appendBase62(dst []byte, n int64) []byte {
	if n == 0 {
		return append(dst, '0')
	}
	var buf [16]byte
	i := len(buf)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for u > 0 {
		i--
		buf[i] = base62Alphabet[u%62]
		u /= 62
	}
	if neg {
		dst = append(dst, '-')
	}
	return append(dst, buf[i:]...)
}

// parseBase62 is Django's b62_decode; it rejects characters outside the
// alphabet and values that do not fit in int64.
func parseBase62(s []byte) (int64, error) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || len(s) > 11 {
		return 0, fmt.Errorf("%w: bad base62 timestamp", ErrCorruptBase64)
	}
	var n int64
	for _, ch := range s {
		var d int64
		switch {
		case ch >= '0' && ch <= '9':
			d = int64(ch - '0')
		case ch >= 'A' && ch <= 'Z':
			d = int64(ch-'A') + 10
		case ch >= 'a' && ch <= 'z':
			d = int64(ch-'a') + 36
		default:
			return 0, fmt.Errorf("%w: bad base62 timestamp character %q", ErrCorruptBase64, ch)
		}
		n = n*62 + d
	}
	if n < 0 {
		return 0, fmt.Errorf("%w: base62 timestamp overflows", ErrCorruptBase64)
	}
	if neg {
		n = -n
	}
	return n, nil
}

// lenientStdBase64 decodes like Python's non-validating b64decode: every byte
// outside [A-Za-z0-9+/=] is dropped first; decoding stops at the first
// complete padded quantum. The result is bounded by max.
func lenientStdBase64(s []byte, max int64) ([]byte, error) {
	clean := make([]byte, 0, len(s))
	for _, ch := range s {
		switch {
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '+', ch == '/':
			clean = append(clean, ch)
		case ch == '=':
			clean = append(clean, ch)
		}
	}
	// Python ignores whatever follows the first padded quantum.
	for i, ch := range clean {
		if ch == '=' {
			end := i + (4-i%4)%4
			if i%4 < 2 || end > len(clean) {
				return nil, fmt.Errorf("%w: incorrect padding", ErrCorruptBase64)
			}
			for _, p := range clean[i:end] {
				if p != '=' {
					return nil, fmt.Errorf("%w: incorrect padding", ErrCorruptBase64)
				}
			}
			clean = clean[:end]
			break
		}
	}
	if len(clean)%4 != 0 {
		return nil, fmt.Errorf("%w: incorrect padding (length %d)", ErrCorruptBase64, len(clean))
	}
	if int64(base64.StdEncoding.DecodedLen(len(clean))) > max+2 {
		return nil, fmt.Errorf("%w: base64 payload over %d bytes", ErrTooLarge, max)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptBase64, err)
	}
	if int64(n) > max {
		return nil, fmt.Errorf("%w: base64 payload over %d bytes", ErrTooLarge, max)
	}
	return out[:n], nil
}

// appendWrappedBase64 is Python 2's base64.encodestring: 76 output characters
// per line (57 input bytes), every line ending in "\n".
func appendWrappedBase64(dst, src []byte) []byte {
	for len(src) > 0 {
		n := min(57, len(src))
		dst = base64.StdEncoding.AppendEncode(dst, src[:n])
		dst = append(dst, '\n')
		src = src[n:]
	}
	return dst
}
