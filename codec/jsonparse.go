package codec

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// parser reads JSON text into a node tree. Two dialects:
//   - django: what Django's json.loads accepts from session_data — bytes are
//     Latin-1, NaN/Infinity become {"$float":...}, a duplicate key keeps its
//     first position and its last value (Python dict semantics), and real
//     dicts shaped like tags are escaped.
//   - strict: JSON given to Encode — valid UTF-8, no NaN, no duplicate keys.
type parser struct {
	in     []byte
	pos    int
	depth  int
	django bool
}

func (p *parser) fail(format string, args ...any) error {
	base := ErrInvalidSession
	if p.django {
		base = ErrCorruptJSON
	}
	line, col := 1, 1
	for _, ch := range p.in[:min(p.pos, len(p.in))] {
		if ch == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("%w: line %d column %d: %s", base, line, col, fmt.Sprintf(format, args...))
}

// maxIntDigits is Python's default int_max_str_digits (3.11+): json.loads
// refuses longer integer literals.
const maxIntDigits = 4300

// parseJSON parses one JSON value filling the whole input (whitespace aside).
func parseJSON(in []byte, django bool) (node, error) {
	p := &parser{in: in, django: django}
	v, err := p.value()
	if err != nil {
		return node{}, err
	}
	p.ws()
	if p.pos != len(p.in) {
		return node{}, p.fail("unexpected data after the JSON value")
	}
	return v, nil
}

func (p *parser) ws() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (node, error) {
	p.ws()
	if p.pos >= len(p.in) {
		return node{}, p.fail("unexpected end of JSON")
	}
	switch ch := p.in[p.pos]; {
	case ch == '{':
		return p.object()
	case ch == '[':
		return p.array()
	case ch == '"':
		s, err := p.str()
		return strNode(s), err
	case ch == '-' || ch >= '0' && ch <= '9':
		if p.django && p.lit("-Infinity") {
			return tagNode(tagFloat, strNode("-inf")), nil
		}
		return p.number()
	case p.lit("true"):
		return node{kind: kTrue}, nil
	case p.lit("false"):
		return node{kind: kFalse}, nil
	case p.lit("null"):
		return node{kind: kNull}, nil
	case p.django && p.lit("NaN"):
		return tagNode(tagFloat, strNode("nan")), nil
	case p.django && p.lit("Infinity"):
		return tagNode(tagFloat, strNode("inf")), nil
	case ch == 'N' || ch == 'I':
		return node{}, p.fail("NaN and Infinity are not JSON (use {\"$float\":\"nan\"})")
	}
	return node{}, p.fail("unexpected character %q", p.in[p.pos])
}

func (p *parser) lit(s string) bool {
	if len(p.in)-p.pos >= len(s) && string(p.in[p.pos:p.pos+len(s)]) == s {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail("nesting deeper than %d", maxDepth)
	}
	return nil
}

func (p *parser) object() (node, error) {
	if err := p.enter(); err != nil {
		return node{}, err
	}
	p.pos++ // {
	var keys []string
	var vals []node
	var index map[string]int // only for large objects; small ones scan linearly
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.depth--
		return node{kind: kObj}, nil
	}
	for {
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return node{}, p.fail("expected a string key")
		}
		keyPos := p.pos
		k, err := p.str()
		if err != nil {
			return node{}, err
		}
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return node{}, p.fail("expected ':' after key %q", k)
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return node{}, err
		}
		dup := -1
		if index != nil {
			if i, ok := index[k]; ok {
				dup = i
			}
		} else {
			for i := range keys {
				if keys[i] == k {
					dup = i
					break
				}
			}
		}
		switch {
		case dup >= 0 && !p.django:
			p.pos = keyPos
			return node{}, p.fail("duplicate key %q", k)
		case dup >= 0:
			vals[dup] = v // Python: first position, last value
		default:
			keys = append(keys, k)
			vals = append(vals, v)
			if index != nil {
				index[k] = len(keys) - 1
			} else if len(keys) > 16 {
				index = make(map[string]int, 2*len(keys))
				for i, key := range keys {
					index[key] = i
				}
			}
		}
		p.ws()
		if p.pos >= len(p.in) {
			return node{}, p.fail("unexpected end of JSON in an object")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			if p.django {
				return dictNode(keys, vals), nil
			}
			return node{kind: kObj, keys: keys, items: vals}, nil
		default:
			return node{}, p.fail("expected ',' or '}' in an object")
		}
	}
}

func (p *parser) array() (node, error) {
	if err := p.enter(); err != nil {
		return node{}, err
	}
	p.pos++ // [
	var items []node
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.depth--
		return node{kind: kArr}, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return node{}, err
		}
		items = append(items, v)
		p.ws()
		if p.pos >= len(p.in) {
			return node{}, p.fail("unexpected end of JSON in an array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return node{kind: kArr, items: items}, nil
		default:
			return node{}, p.fail("expected ',' or ']' in an array")
		}
	}
}

// str reads a JSON string at p.pos (the opening quote) and returns its value
// as WTF-8: UTF-8, except that lone surrogates (which Python strings may hold)
// are kept as their 3-byte generalized UTF-8 form.
func (p *parser) str() (string, error) {
	p.pos++
	start := p.pos
	for p.pos < len(p.in) { // fast path: plain ASCII, no escapes
		ch := p.in[p.pos]
		if ch == '"' {
			s := string(p.in[start:p.pos])
			p.pos++
			return s, nil
		}
		if ch == '\\' || ch < 0x20 || ch >= 0x80 {
			break
		}
		p.pos++
	}
	buf := append([]byte(nil), p.in[start:p.pos]...)
	for p.pos < len(p.in) {
		ch := p.in[p.pos]
		switch {
		case ch == '"':
			p.pos++
			return string(buf), nil
		case ch == '\\':
			var err error
			if buf, err = p.escape(buf); err != nil {
				return "", err
			}
		case ch < 0x20:
			return "", p.fail("control character %#02x in a string (escape it)", ch)
		case ch < 0x80:
			buf = append(buf, ch)
			p.pos++
		case p.django: // session_data bytes are Latin-1 to Django's json.loads
			buf = utf8.AppendRune(buf, rune(ch))
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.fail("invalid UTF-8")
			}
			buf = append(buf, p.in[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) escape(buf []byte) ([]byte, error) {
	if p.pos+1 >= len(p.in) {
		return nil, p.fail("unterminated escape")
	}
	e := p.in[p.pos+1]
	p.pos += 2
	switch e {
	case '"', '\\', '/':
		return append(buf, e), nil
	case 'b':
		return append(buf, '\b'), nil
	case 'f':
		return append(buf, '\f'), nil
	case 'n':
		return append(buf, '\n'), nil
	case 'r':
		return append(buf, '\r'), nil
	case 't':
		return append(buf, '\t'), nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return nil, p.fail("bad \\u escape")
		}
		if r >= 0xd800 && r < 0xdc00 && p.pos+1 < len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
			save := p.pos
			p.pos += 2
			if lo, ok := p.hex4(); ok && lo >= 0xdc00 && lo < 0xe000 {
				return utf8.AppendRune(buf, 0x10000+(r-0xd800)<<10+(lo-0xdc00)), nil
			}
			p.pos = save
		}
		return appendWTF8(buf, r), nil
	}
	p.pos--
	return nil, p.fail("bad escape \\%c", e)
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.in) {
		return 0, false
	}
	var r rune
	for _, ch := range p.in[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case ch >= '0' && ch <= '9':
			r |= rune(ch - '0')
		case ch >= 'a' && ch <= 'f':
			r |= rune(ch-'a') + 10
		case ch >= 'A' && ch <= 'F':
			r |= rune(ch-'A') + 10
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// appendWTF8 appends r; a surrogate code point is written as its 3-byte form
// (utf8.AppendRune would turn it into U+FFFD).
func appendWTF8(buf []byte, r rune) []byte {
	if r >= 0xd800 && r < 0xe000 {
		return append(buf, 0xed, byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f))
	}
	return utf8.AppendRune(buf, r)
}

func (p *parser) number() (node, error) {
	start := p.pos
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intDigits := 1
	if p.pos < len(p.in) && p.in[p.pos] == '0' {
		p.pos++
	} else if intDigits = digits(); intDigits == 0 {
		return node{}, p.fail("bad number")
	}
	isFloat := false
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		isFloat = true
		if digits() == 0 {
			return node{}, p.fail("bad number: digits expected after '.'")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		isFloat = true
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return node{}, p.fail("bad number: digits expected in the exponent")
		}
	}
	if !isFloat && !p.django && intDigits > maxIntDigits {
		// Django on Python 3.11+ cannot read it back: json.loads raises and
		// the user gets an error page (3.2) or is logged out (4.x, 5.x).
		return node{}, p.fail("an integer of %d digits: Python reads at most %d", intDigits, maxIntDigits)
	}
	text := string(p.in[start:p.pos])
	if !isFloat {
		if text == "-0" {
			text = "0" // Python: int("-0") == 0
		}
		return node{kind: kNum, text: text}, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !math.IsInf(f, 0) {
		return node{}, p.fail("bad number %s", text)
	}
	if math.IsInf(f, 0) {
		if !p.django {
			return node{}, p.fail("number %s is out of range for a float", text)
		}
		return tagNode(tagFloat, strNode(map[bool]string{true: "inf", false: "-inf"}[f > 0])), nil
	}
	return node{kind: kNum, text: pyFloatRepr(f)}, nil
}

// pyFloatRepr formats f as Python's repr(float): the shortest round-trip
// digits, fixed notation for decimal exponents in (-4, 16], else d.ddde±XX.
func pyFloatRepr(f float64) string {
	var buf [32]byte
	return string(appendPyFloatRepr(buf[:0], f))
}

func appendPyFloatRepr(dst []byte, f float64) []byte {
	var ebuf [32]byte
	e := strconv.AppendFloat(ebuf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	ePos := len(e) - 1
	for e[ePos] != 'e' {
		ePos--
	}
	x := 0
	for _, ch := range e[ePos+2:] {
		x = x*10 + int(ch-'0')
	}
	if e[ePos+1] == '-' {
		x = -x
	}
	var dbuf [24]byte
	digits := append(dbuf[:0], e[0])
	if ePos > 2 {
		digits = append(digits, e[2:ePos]...)
	}
	decpt := x + 1
	switch {
	case decpt <= -4 || decpt > 16:
		return append(dst, e...)
	case decpt <= 0:
		dst = append(dst, '0', '.')
		for range -decpt {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case decpt >= len(digits):
		dst = append(dst, digits...)
		for range decpt - len(digits) {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, digits[:decpt]...)
	dst = append(dst, '.')
	return append(dst, digits[decpt:]...)
}
