package codec

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"strconv"
)

// isCanonical reports whether JSON text is already exactly what Decode would
// produce: an object in Python's compact ensure_ascii form with no duplicate
// keys, no tag-shaped dicts, no NaN/Infinity and numbers in Python repr. Django
// writes exactly that, so Decode can return the bytes as they are instead of
// rebuilding them: this is the hot path. It allocates nothing for objects of
// up to linearKeys members nested up to a few levels, and returns false
// (the general path decides) for whatever it is unsure of.
//
// It is one loop over three states (a value, a key, after a value) with the
// position in a local, and no call per value: calls and stores of the
// position through a pointer cost more than the scanning itself. Open
// containers are kept on the key stack, as two marks holding what the
// enclosing container's scan needs again: its kind, the index of its first
// key and its seen bits. Strings, most of the bytes, are skipped through
// byteClasses bitmaps from classesMin bytes of input on.
func isCanonical(in []byte) bool { return isCanonicalWith(in, len(in) >= classesMin) }

// isCanonicalWith is isCanonical, skipping strings through byteClasses
// bitmaps or not: the tests check that both ways agree.
func isCanonicalWith(in []byte, bitmaps bool) bool {
	n := len(in)
	if n == 0 || in[0] != '{' || uint64(n) > math.MaxUint32 {
		return false
	}
	var classes byteClasses
	var inline [2 * classesInline / 64]uint64
	switch {
	case !bitmaps:
	case n > classesInline:
		pooled, _ := classesPool.Get().(*[]uint64)
		if pooled == nil {
			pooled = new([]uint64)
		}
		if need := 2 * ((n + 63) >> 6); cap(*pooled) < need {
			*pooled = make([]uint64, need)
		}
		defer func() {
			if cap(*pooled) > 2*scratchKeep/64 { // a rare huge session: do not pin its bitmaps
				*pooled = nil
			}
			classesPool.Put(pooled)
		}()
		classes = classifyText(in, *pooled)
	default:
		classes = classifyText(in, inline[:])
	}
	var small [64]span
	keys := small[:0] // the keys of every open object, each object's after its mark
	var table []uint32
	var (
		pos, depth int
		base       int    // this container's keys are keys[base:]
		inObject   bool   // this container is an object (else an array, or none at depth 0)
		seen       uint64 // a bit per (length, first byte) of the object's keys
		ok         bool
		c          byte
	)

value:
	if pos >= n {
		return false
	}
	switch c = in[pos]; c {
	case '"':
		if p := pos + 1; p>>6 < len(classes.quotes) { // plainFrom's common case, inlined
			q, s := classes.quotes[p>>6]>>(uint(p)&63), classes.specials[p>>6]>>(uint(p)&63)
			if q != 0 && s&(q&-q-1) == 0 {
				pos = p + bits.TrailingZeros64(q) + 1
				break
			}
		}
		if pos, ok = classes.stringEnd(in, pos); !ok {
			return false
		}
	case '{', '[':
		if pos+1 < n && in[pos+1] == c+2 { // {} or []
			pos += 2
			break
		}
		if depth == maxDepth {
			return false
		}
		mark := span{uint32(base), 0}
		if inObject {
			mark.end = 1
		}
		keys = append(keys, mark, span{uint32(seen), uint32(seen >> 32)})
		base, inObject, depth, seen = len(keys), c == '{', depth+1, 0
		pos++
		if inObject {
			goto key
		}
		goto value
	case 't':
		if !hasAt(in, pos, "true") {
			return false
		}
		pos += 4
	case 'f':
		if !hasAt(in, pos, "false") {
			return false
		}
		pos += 5
	case 'n':
		if !hasAt(in, pos, "null") {
			return false
		}
		pos += 4
	default:
		if pos, ok = canonNumber(in, pos); !ok {
			return false
		}
	}

next:
	if depth == 0 {
		return pos == n
	}
	if pos >= n {
		return false
	}
	c = in[pos]
	pos++
	if c == ',' {
		if inObject {
			goto key
		}
		goto value
	}
	if inObject {
		if c != '}' {
			return false
		}
		first := in[keys[base].start:keys[base].end]
		if string(first) == tagObject || len(keys)-base == 1 && len(first) > 0 && first[0] == '$' && isTagName(string(first)) {
			return false // a real dict shaped like a tag must be escaped
		}
		if len(keys)-base > linearKeys && !distinct(in, keys[base:], &table) {
			return false
		}
	} else if c != ']' {
		return false
	}
	{
		mark, saved := keys[base-2], keys[base-1]
		keys = keys[:base-2]
		base, inObject, depth = int(mark.start), mark.end == 1, depth-1
		seen = uint64(saved.start) | uint64(saved.end)<<32
	}
	goto next

key:
	if pos >= n || in[pos] != '"' {
		return false
	}
	{
		start := pos + 1
		if p := start; p>>6 < len(classes.quotes) { // as for a value
			q, s := classes.quotes[p>>6]>>(uint(p)&63), classes.specials[p>>6]>>(uint(p)&63)
			if q != 0 && s&(q&-q-1) == 0 {
				pos = p + bits.TrailingZeros64(q) + 1
				goto keyRead
			}
		}
		if pos, ok = classes.stringEnd(in, pos); !ok {
			return false
		}
	keyRead:
		k := span{uint32(start), uint32(pos - 1)}
		if len(keys)-base < linearKeys {
			// Only a key whose length and first byte (the closing quote for
			// "") came before can be a duplicate.
			bit := uint64(1) << ((uint(k.end-k.start)*7 + uint(in[start])) & 63)
			if seen&bit != 0 {
				key := in[k.start:k.end]
				for _, o := range keys[base:] { // canonical escaping is unique: equal text == equal key
					if string(in[o.start:o.end]) == string(key) {
						return false
					}
				}
			}
			seen |= bit
		}
		keys = append(keys, k)
	}
	if pos >= n || in[pos] != ':' {
		return false
	}
	pos++
	goto value
}

// span is a key's text in the input: its bytes between the quotes.
type span struct{ start, end uint32 }

// linearKeys is the object size up to which duplicate keys are found by
// comparing each key with those before it; larger objects are checked once,
// at their end, through a hash table.
const linearKeys = 16

// hasAt reports whether in holds lit at pos.
func hasAt(in []byte, pos int, lit string) bool {
	return len(in)-pos >= len(lit) && string(in[pos:pos+len(lit)]) == lit
}

// keySeed seeds the hash of distinct.
var keySeed = maphash.MakeSeed()

// distinct reports whether the keys of a large object are all different, by
// open addressing in a table of at least twice as many slots (*table, kept
// for the next large object).
func distinct(in []byte, keys []span, table *[]uint32) bool {
	size := 1
	for size < 2*len(keys) {
		size <<= 1
	}
	if cap(*table) < size {
		*table = make([]uint32, size)
	}
	t := (*table)[:size]
	clear(t)
	mask := uint64(size - 1)
	for i, k := range keys {
		key := in[k.start:k.end]
		for h := maphash.Bytes(keySeed, key) & mask; ; h = (h + 1) & mask {
			slot := t[h]
			if slot == 0 {
				t[h] = uint32(i + 1)
				break
			}
			if o := keys[slot-1]; string(in[o.start:o.end]) == string(key) {
				return false
			}
		}
	}
	return true
}

// plainASCII marks the bytes Python's ensure_ascii writes as themselves
// inside a string: ' '..'~' except '"' and '\'.
var plainASCII = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// canonStringFrom checks the rest of a string from in[pos] on (pos is
// inside the string, after its opening quote) for ensure_ascii form and
// returns the index after its closing quote. Plain characters are skipped
// eight at a time: each test below sets the high bit of a byte it matches
// and of no byte below the first match (a borrow or a carry only moves up),
// so the lowest set bit is the first byte to look at.
func canonStringFrom(in []byte, pos int) (int, bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for {
		if pos+8 <= len(in) {
			w := binary.LittleEndian.Uint64(in[pos:])
			q, b := w^('"'*ones), w^('\\'*ones)
			m := (w-0x20*ones)&^w | // a byte below 0x20
				(w + 0x01*ones) | w | // a byte from 0x7f
				(q-ones)&^q | // '"'
				(b-ones)&^b // '\\'
			if m &= highs; m == 0 {
				pos += 8
				continue
			}
			pos += bits.TrailingZeros64(m) >> 3
		} else {
			for pos < len(in) && plainASCII[in[pos]] {
				pos++
			}
			if pos >= len(in) {
				return 0, false
			}
		}
		if in[pos] == '"' {
			return pos + 1, true
		}
		var ok bool
		if pos, ok = canonEscape(in, pos); !ok {
			return 0, false
		}
	}
}

// canonEscape checks the special byte at in[pos] inside a string: it must
// start an escape Python writes, and returns the index after it. A control
// or non-ASCII byte is refused (Python escapes it), and so is "\/" (valid
// JSON, not Python's output).
func canonEscape(in []byte, pos int) (int, bool) {
	if in[pos] != '\\' || pos+1 >= len(in) {
		return 0, false
	}
	switch in[pos+1] {
	case '"', '\\', 'n', 'r', 't', 'b', 'f':
		return pos + 2, true
	case 'u':
		return canonU(in, pos)
	}
	return 0, false
}

// canonU checks the \uXXXX escape at in[pos] for one Python would write:
// lower-case hex, for a code point Python escapes (not a plain printable
// ASCII one, and not one with a short escape), surrogates only as a valid
// pair or lone. It returns the index after the escape (or the pair).
func canonU(in []byte, pos int) (int, bool) {
	r, ok := hex4(in, pos+2)
	if !ok {
		return 0, false
	}
	switch {
	case r >= 0x20 && r < 0x7f, r == '\n', r == '\r', r == '\t', r == '\b', r == '\f':
		return 0, false
	case r >= 0xd800 && r < 0xdc00:
		if lo, ok := hex4(in, pos+8); ok && in[pos+6] == '\\' && in[pos+7] == 'u' && lo >= 0xdc00 && lo < 0xe000 {
			return pos + 12, true
		}
	}
	return pos + 6, true
}

// hex4 reads four lower-case hex digits at in[i].
func hex4(in []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(in) {
		return 0, false
	}
	var r rune
	for _, ch := range in[i : i+4] {
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

// canonNumber checks the number at in[pos] for Python's form (an int
// without leading zeros or "-0", a float in repr) and returns the index
// after it. Integers, nearly all of a session's numbers, take a loop of
// their own.
func canonNumber(in []byte, pos int) (int, bool) {
	start := pos
	if pos < len(in) && in[pos] == '-' {
		pos++
	}
	intStart := pos
	for pos < len(in) && in[pos]-'0' <= 9 {
		pos++
	}
	nd := pos - intStart
	if nd == 0 || nd > 1 && in[intStart] == '0' {
		return 0, false
	}
	if pos < len(in) && in[pos] == '.' {
		// A plain decimal is Python's repr when the integer part is not 0,
		// there are at most 15 digits, and the fraction ends in no
		// superfluous 0 (see plainReprFloat): the prices of a cart.
		dot, f := pos, pos+1
		for f < len(in) && in[f]-'0' <= 9 {
			f++
		}
		nf := f - dot - 1
		if nf > 0 && (f == len(in) || in[f] != 'e') && in[intStart] != '0' && nd+nf <= 15 && (nf == 1 || in[f-1] != '0') {
			return f, true
		}
		return canonFloat(in, start, dot)
	}
	if pos < len(in) && in[pos] == 'e' {
		return canonFloat(in, start, pos)
	}
	return pos, pos-start != 2 || in[start] != '-' || in[start+1] != '0'
}

// canonFloat checks a float whose integer part is in[start:pos].
func canonFloat(in []byte, start, pos int) (int, bool) {
	digits := func() int {
		n := 0
		for pos < len(in) && in[pos]-'0' <= 9 {
			pos++
			n++
		}
		return n
	}
	if in[pos] == '.' {
		pos++
		if digits() == 0 {
			return 0, false
		}
	}
	if pos < len(in) && in[pos] == 'e' {
		pos++
		if pos < len(in) && (in[pos] == '+' || in[pos] == '-') {
			pos++
		}
		if digits() == 0 {
			return 0, false
		}
	}
	text := in[start:pos]
	if plainReprFloat(text) {
		return pos, true
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return 0, false
	}
	var buf [32]byte
	return pos, string(appendPyFloatRepr(buf[:0], f)) == string(text)
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
