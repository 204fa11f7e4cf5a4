package codec

import "strconv"

// isCanonical reports whether JSON text is already exactly what Decode would
// produce: an object in Python's compact ensure_ascii form with no duplicate
// keys, no tag-shaped dicts, no NaN/Infinity and numbers in Python repr. Django
// writes exactly that, so Decode can return the bytes as they are instead of
// rebuilding them: this is the hot path, and it allocates nothing.
func isCanonical(data []byte) bool {
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	s := canonScanner{in: data}
	return s.value(0) && s.pos == len(data)
}

type canonScanner struct {
	in  []byte
	pos int
}

const canonMaxKeys = 32 // larger objects take the general path for duplicate checks

func (s *canonScanner) value(depth int) bool {
	if s.pos >= len(s.in) || depth > maxDepth {
		return false
	}
	switch ch := s.in[s.pos]; {
	case ch == '{':
		return s.object(depth + 1)
	case ch == '[':
		s.pos++
		if s.pos < len(s.in) && s.in[s.pos] == ']' {
			s.pos++
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			if s.pos >= len(s.in) {
				return false
			}
			switch s.in[s.pos] {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return true
			default:
				return false
			}
		}
	case ch == '"':
		_, _, ok := s.str()
		return ok
	case ch == '-' || ch >= '0' && ch <= '9':
		return s.number()
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(s.in)-s.pos >= len(lit) && string(s.in[s.pos:s.pos+len(lit)]) == lit {
			s.pos += len(lit)
			return true
		}
	}
	return false
}

func (s *canonScanner) object(depth int) bool {
	s.pos++ // {
	if s.pos < len(s.in) && s.in[s.pos] == '}' {
		s.pos++
		return true
	}
	var keys [canonMaxKeys][2]int
	n := 0
	for {
		if s.pos >= len(s.in) || s.in[s.pos] != '"' || n == canonMaxKeys {
			return false
		}
		start, end, ok := s.str()
		if !ok {
			return false
		}
		key := s.in[start:end]
		for _, k := range keys[:n] { // canonical escaping is unique: equal text == equal key
			if string(s.in[k[0]:k[1]]) == string(key) {
				return false
			}
		}
		keys[n] = [2]int{start, end}
		n++
		if s.pos >= len(s.in) || s.in[s.pos] != ':' {
			return false
		}
		s.pos++
		if !s.value(depth) {
			return false
		}
		if s.pos >= len(s.in) {
			return false
		}
		switch s.in[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			first := s.in[keys[0][0]:keys[0][1]]
			if string(first) == tagObject || n == 1 && len(first) > 0 && first[0] == '$' && isTagName(string(first)) {
				return false // a real dict shaped like a tag must be escaped
			}
			return true
		default:
			return false
		}
	}
}

// plainASCII marks the bytes Python's ensure_ascii writes as themselves
// inside a string: ' '..'~' except '"' and '\'.
var plainASCII = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// str checks a string in ensure_ascii form and returns its contents' span.
// The plain-character loop works on locals: through s the compiler would
// store pos to memory at every byte.
func (s *canonScanner) str() (int, int, bool) {
	in, pos := s.in, s.pos+1
	start := pos
	for {
		for pos < len(in) && plainASCII[in[pos]] {
			pos++
		}
		if pos >= len(in) {
			return 0, 0, false
		}
		switch in[pos] {
		case '"':
			s.pos = pos + 1
			return start, pos, true
		case '\\':
			if pos+1 >= len(in) {
				return 0, 0, false
			}
			switch in[pos+1] {
			case '"', '\\', 'n', 'r', 't', 'b', 'f':
				pos += 2
			case 'u':
				s.pos = pos
				if !s.canonU() {
					return 0, 0, false
				}
				pos = s.pos
			default:
				return 0, 0, false // "\/" is valid JSON but not Python's output
			}
		default:
			return 0, 0, false // a control or non-ASCII byte: Python escapes it
		}
	}
}

// canonU accepts a \uXXXX escape that Python would write: lower-case hex, for
// a code point Python escapes (not a plain printable ASCII one, and not one
// with a short escape), surrogates only as a valid pair or lone.
func (s *canonScanner) canonU() bool {
	r, ok := s.hex(s.pos + 2)
	if !ok {
		return false
	}
	switch {
	case r >= 0x20 && r < 0x7f, r == '\n', r == '\r', r == '\t', r == '\b', r == '\f':
		return false
	case r >= 0xd800 && r < 0xdc00:
		if lo, ok := s.hex(s.pos + 8); ok && s.in[s.pos+6] == '\\' && s.in[s.pos+7] == 'u' && lo >= 0xdc00 && lo < 0xe000 {
			s.pos += 12
			return true
		}
	}
	s.pos += 6
	return true
}

func (s *canonScanner) hex(i int) (rune, bool) {
	if i+4 > len(s.in) {
		return 0, false
	}
	var r rune
	for _, ch := range s.in[i : i+4] {
		switch {
		case ch >= '0' && ch <= '9':
			r = r<<4 | rune(ch-'0')
		case ch >= 'a' && ch <= 'f':
			r = r<<4 | rune(ch-'a'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (s *canonScanner) number() bool {
	start := s.pos
	if s.in[s.pos] == '-' {
		s.pos++
	}
	digits := func() int {
		n := 0
		for s.pos < len(s.in) && s.in[s.pos] >= '0' && s.in[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	intStart := s.pos
	if nd := digits(); nd == 0 || nd > 1 && s.in[intStart] == '0' {
		return false
	}
	isFloat := false
	if s.pos < len(s.in) && s.in[s.pos] == '.' {
		s.pos++
		isFloat = true
		if digits() == 0 {
			return false
		}
	}
	if s.pos < len(s.in) && s.in[s.pos] == 'e' {
		s.pos++
		isFloat = true
		if s.pos < len(s.in) && (s.in[s.pos] == '+' || s.in[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return false
		}
	}
	text := s.in[start:s.pos]
	if !isFloat {
		return string(text) != "-0"
	}
	if plainReprFloat(text) {
		return true
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return false
	}
	var buf [32]byte
	return string(appendPyFloatRepr(buf[:0], f)) == string(text)
}

// plainReprFloat recognizes, without parsing, fixed-notation float text that
// is certainly Python's repr: at most 15 significant digits (distinct such
// decimals are distinct doubles, so no shorter text round-trips), no
// superfluous trailing zero, and a magnitude Python writes without exponent.
func plainReprFloat(text []byte) bool {
	if text[0] == '-' {
		text = text[1:]
	}
	dot := -1
	for i, ch := range text {
		if ch == '.' {
			dot = i
		} else if ch < '0' || ch > '9' {
			return false // exponent: take the exact path
		}
	}
	if dot < 1 {
		return false
	}
	intPart, frac := text[:dot], text[dot+1:]
	if len(frac) > 1 && frac[len(frac)-1] == '0' {
		return false
	}
	sig := 0
	if string(intPart) == "0" {
		lead := 0
		for lead < len(frac) && frac[lead] == '0' {
			lead++
		}
		if lead == len(frac) {
			return true // 0.0
		}
		if lead > 3 {
			return false // below 1e-4 Python switches to exponent form
		}
		sig = len(frac) - lead
	} else {
		sig = len(intPart) + len(frac)
		if string(frac) == "0" {
			sig = len(intPart) // "100.0": the ".0" is not a digit of precision
			for sig > 0 && intPart[sig-1] == '0' {
				sig--
			}
		}
	}
	return sig <= 15 && len(intPart) <= 16
}
