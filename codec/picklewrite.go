package codec

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// serializePickle writes a session as a protocol-2 pickle, the highest
// protocol Python 2 Djangos read, built only from the opcodes and globals
// CPython itself uses for these types (so Python 2 and 3 both load it).
// Opaque $object values cannot be rebuilt and are refused.
func serializePickle(v *node) ([]byte, error) {
	w := pickleWriter{out: []byte{0x80, 2}}
	if err := w.value(v, ""); err != nil {
		return nil, err
	}
	return append(w.out, '.'), nil
}

type pickleWriter struct{ out []byte }

const pickleBatch = 1000 // CPython's APPENDS/SETITEMS batch size

func unsupported(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s at %s", ErrUnsupportedValue, fmt.Sprintf(format, args...), pathOrRoot(path))
}

func (w *pickleWriter) value(v *node, path string) error {
	switch v.kind {
	case kNull:
		w.out = append(w.out, 'N')
	case kTrue:
		w.out = append(w.out, 0x88)
	case kFalse:
		w.out = append(w.out, 0x89)
	case kNum:
		return w.number(v.text, path)
	case kStr:
		w.str(v.text)
	case kArr:
		w.out = append(w.out, ']')
		return w.batched(len(v.items), 'e', func(i int) error {
			return w.value(&v.items[i], fmt.Sprintf("%s/%d", path, i))
		})
	case kObj:
		if tag, val, ok := asTag(v); ok {
			return w.tagged(tag, val, path)
		}
		w.out = append(w.out, '}')
		return w.batched(len(v.items), 'u', func(i int) error {
			w.str(v.keys[i])
			return w.value(&v.items[i], path+"/"+v.keys[i])
		})
	default:
		return unsupported(path, "value")
	}
	return nil
}

// batched writes MARK items... op in batches, as CPython does for lists and dicts.
func (w *pickleWriter) batched(n int, op byte, item func(int) error) error {
	for start := 0; start < n; start += pickleBatch {
		w.out = append(w.out, '(')
		for i := start; i < min(n, start+pickleBatch); i++ {
			if err := item(i); err != nil {
				return err
			}
		}
		w.out = append(w.out, op)
	}
	return nil
}

func (w *pickleWriter) str(s string) {
	w.out = append(w.out, 'X')
	w.out = binary.LittleEndian.AppendUint32(w.out, uint32(len(s)))
	w.out = append(w.out, s...) // WTF-8 = Python's utf-8 "surrogatepass"
}

func (w *pickleWriter) number(text, path string) error {
	for _, ch := range text {
		if ch == '.' || ch == 'e' || ch == 'E' {
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return unsupported(path, "float %s", text)
			}
			w.float(f)
			return nil
		}
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		w.int(n)
		return nil
	}
	b, ok := new(big.Int).SetString(text, 10)
	if !ok {
		return unsupported(path, "number %s", text)
	}
	w.long(b)
	return nil
}

func (w *pickleWriter) float(f float64) {
	w.out = append(w.out, 'G')
	w.out = binary.BigEndian.AppendUint64(w.out, math.Float64bits(f))
}

// int uses CPython's choice: BININT1, BININT2, BININT, else LONG1.
func (w *pickleWriter) int(n int64) {
	switch {
	case n >= 0 && n < 256:
		w.out = append(w.out, 'K', byte(n))
	case n >= 0 && n < 65536:
		w.out = append(w.out, 'M', byte(n), byte(n>>8))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		w.out = append(w.out, 'J')
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(int32(n)))
	default:
		w.long(big.NewInt(n))
	}
}

// long writes LONG1/LONG4 with Python's encode_long: minimal little-endian
// two's complement.
func (w *pickleWriter) long(b *big.Int) {
	var enc []byte
	if b.Sign() >= 0 {
		be := b.Bytes()
		if len(be) > 0 && be[0]&0x80 != 0 {
			be = append([]byte{0}, be...)
		}
		enc = be
	} else {
		// two's complement of a negative: 2^(8n) + b for the smallest n that keeps the sign bit.
		n := (b.BitLen() + 8) / 8
		mod := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
		be := new(big.Int).Add(mod, b).Bytes()
		for len(be) < n {
			be = append([]byte{0}, be...)
		}
		// drop a redundant leading 0xff when the next byte already has the sign bit
		for len(be) > 1 && be[0] == 0xff && be[1]&0x80 != 0 {
			be = be[1:]
		}
		enc = be
	}
	for i, j := 0, len(enc)-1; i < j; i, j = i+1, j-1 {
		enc[i], enc[j] = enc[j], enc[i]
	}
	if len(enc) < 256 {
		w.out = append(w.out, 0x8a, byte(len(enc)))
	} else {
		w.out = append(w.out, 0x8b)
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(len(enc)))
	}
	w.out = append(w.out, enc...)
}

func (w *pickleWriter) global(module, name string) {
	w.out = append(w.out, 'c')
	w.out = append(w.out, module...)
	w.out = append(w.out, '\n')
	w.out = append(w.out, name...)
	w.out = append(w.out, '\n')
}

// tuple writes n already-pushed items as a tuple.
func (w *pickleWriter) tuple(n int) {
	switch n {
	case 0:
		w.out = append(w.out, ')')
	case 1, 2, 3:
		w.out = append(w.out, 0x84+byte(n))
	}
}

// bytes is CPython 3's protocol-2 form: _codecs.encode(latin1 text, "latin1")
// (Python 2 loads it as a str).
func (w *pickleWriter) bytes(b []byte) {
	if len(b) == 0 {
		w.global("__builtin__", "bytes")
		w.out = append(w.out, ')', 'R')
		return
	}
	w.global("_codecs", "encode")
	text := make([]rune, len(b))
	for i, c := range b {
		text[i] = rune(c)
	}
	w.str(string(text))
	w.str("latin1")
	w.out = append(w.out, 0x86, 'R')
}

func (w *pickleWriter) tagged(tag string, val *node, path string) error {
	p := path + "/" + tag
	switch tag {
	case tagTuple:
		if val.kind != kArr {
			return unsupported(p, "$tuple needs a list")
		}
		if len(val.items) > 3 {
			w.out = append(w.out, '(')
		}
		for i := range val.items {
			if err := w.value(&val.items[i], fmt.Sprintf("%s/%d", p, i)); err != nil {
				return err
			}
		}
		if len(val.items) > 3 {
			w.out = append(w.out, 't')
		} else {
			w.tuple(len(val.items))
		}
	case tagSet, tagFrozenset:
		if val.kind != kArr {
			return unsupported(p, "%s needs a list", tag)
		}
		for i := range val.items {
			if err := hashable(&val.items[i], fmt.Sprintf("%s/%d", p, i)); err != nil {
				return err
			}
		}
		w.global("__builtin__", tag[1:])
		if err := w.value(val, p); err != nil {
			return err
		}
		w.out = append(w.out, 0x85, 'R')
	case tagBytes:
		b, err := tagString(val, p, tag)
		if err != nil {
			return err
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(b)
		if err != nil {
			return unsupported(p, "$bytes is not standard base64")
		}
		w.bytes(raw)
	case tagDatetime, tagDate, tagTime:
		s, err := tagString(val, p, tag)
		if err != nil {
			return err
		}
		pt, err := parseISO(tag, s)
		if err != nil {
			return unsupported(p, "%v", err)
		}
		w.global("datetime", tag[1:])
		w.bytes(pt.state)
		if pt.offset != nil {
			w.timezone(*pt.offset)
			w.out = append(w.out, 0x86, 'R')
		} else {
			w.out = append(w.out, 0x85, 'R')
		}
	case tagTimedelta:
		td, err := timedeltaOf(val)
		if err != nil {
			return unsupported(p, "%v", err)
		}
		w.timedelta(td)
	case tagDecimal:
		s, err := tagString(val, p, tag)
		if err != nil {
			return err
		}
		if !validDecimal(s) {
			return unsupported(p, "%q is not a Decimal", s)
		}
		w.global("decimal", "Decimal")
		w.str(s)
		w.out = append(w.out, 0x85, 'R')
	case tagFloat:
		s, err := tagString(val, p, tag)
		if err != nil {
			return err
		}
		switch s {
		case "nan":
			w.float(math.NaN())
		case "inf":
			w.float(math.Inf(1))
		case "-inf":
			w.float(math.Inf(-1))
		default:
			return unsupported(p, "$float must be nan, inf or -inf")
		}
	case tagDict:
		if val.kind != kArr {
			return unsupported(p, "$dict needs a list of [key, value] pairs")
		}
		w.out = append(w.out, '}')
		return w.batched(len(val.items), 'u', func(i int) error {
			pair := &val.items[i]
			ip := fmt.Sprintf("%s/%d", p, i)
			if pair.kind != kArr || len(pair.items) != 2 {
				return unsupported(ip, "$dict needs [key, value] pairs")
			}
			if err := hashable(&pair.items[0], ip+"/0"); err != nil {
				return err
			}
			if err := w.value(&pair.items[0], ip+"/0"); err != nil {
				return err
			}
			return w.value(&pair.items[1], ip+"/1")
		})
	default: // $object
		class := ""
		if val.kind == kObj && len(val.items) > 0 && val.items[0].kind == kStr {
			class = " " + val.items[0].text
		}
		return unsupported(path, "an opaque pickled object%s cannot be rebuilt", class)
	}
	return nil
}

func tagString(val *node, path, tag string) (string, error) {
	if val.kind != kStr {
		return "", unsupported(path, "%s needs a string", tag)
	}
	return val.text, nil
}

// hashable refuses dict keys and set members Python could not hash.
func hashable(v *node, path string) error {
	switch v.kind {
	case kArr:
		return unsupported(path, "a list cannot be a set member or dict key (use $tuple)")
	case kObj:
		tag, val, ok := asTag(v)
		if !ok || tag == tagSet || tag == tagDict || tag == tagObject {
			return unsupported(path, "a dict or set cannot be a set member or dict key")
		}
		if tag == tagTuple && val.kind == kArr {
			for i := range val.items {
				if err := hashable(&val.items[i], fmt.Sprintf("%s/%d", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (w *pickleWriter) timedelta(td pyTimedelta) {
	w.global("datetime", "timedelta")
	w.int(td.days)
	w.int(td.seconds)
	w.int(td.micros)
	w.out = append(w.out, 0x87, 'R')
}

// timezone writes datetime.timezone(timedelta(...)) as CPython 3 does.
func (w *pickleWriter) timezone(off pyTimedelta) {
	w.global("datetime", "timezone")
	w.timedelta(off)
	w.out = append(w.out, 0x85, 'R')
}

func timedeltaOf(v *node) (pyTimedelta, error) {
	if v.kind != kObj || len(v.keys) != 3 {
		return pyTimedelta{}, fmt.Errorf(`$timedelta needs {"days":D,"seconds":S,"microseconds":U}`)
	}
	var f [3]int64
	for i, k := range []string{"days", "seconds", "microseconds"} {
		if v.keys[i] != k || v.items[i].kind != kNum {
			return pyTimedelta{}, fmt.Errorf(`$timedelta needs {"days":D,"seconds":S,"microseconds":U} in that order`)
		}
		n, err := strconv.ParseInt(v.items[i].text, 10, 64)
		if err != nil {
			return pyTimedelta{}, fmt.Errorf("$timedelta %s must be an integer", k)
		}
		f[i] = n
	}
	td := pyTimedelta{days: f[0], seconds: f[1], micros: f[2]}
	if td.seconds < 0 || td.seconds >= 86400 || td.micros < 0 || td.micros >= 1000000 || td.days < -999999999 || td.days > 999999999 {
		return pyTimedelta{}, fmt.Errorf("$timedelta must be normalized as Python does (0 <= seconds < 86400, 0 <= microseconds < 1000000)")
	}
	return td, nil
}

type parsedISO struct {
	state  []byte // CPython's pickled byte state
	offset *pyTimedelta
}

// parseISO reads exactly what our isoformat writes, and insists on it:
// formatting the parsed value must give the input back, so the round trip
// is exact.
func parseISO(tag, s string) (parsedISO, error) {
	var y, mo, d, h, mi, sec, us int
	rest := s
	num := func(n int) (int, bool) {
		if len(rest) < n {
			return 0, false
		}
		v := 0
		for _, ch := range rest[:n] {
			if ch < '0' || ch > '9' {
				return 0, false
			}
			v = v*10 + int(ch-'0')
		}
		rest = rest[n:]
		return v, true
	}
	lit := func(c byte) bool {
		if len(rest) > 0 && rest[0] == c {
			rest = rest[1:]
			return true
		}
		return false
	}
	bad := fmt.Errorf("%s %q is not in Python isoformat()", tag, s)
	ok := true
	if tag != tagTime {
		y, ok = num(4)
		ok = ok && lit('-')
		if ok {
			mo, ok = num(2)
		}
		ok = ok && lit('-')
		if ok {
			d, ok = num(2)
		}
		if ok && tag == tagDatetime {
			ok = lit('T')
		}
		if ok && !validDate(y, mo, d) {
			return parsedISO{}, fmt.Errorf("%s %q is not a valid date", tag, s)
		}
	}
	if ok && tag != tagDate {
		h, ok = num(2)
		ok = ok && lit(':')
		if ok {
			mi, ok = num(2)
		}
		ok = ok && lit(':')
		if ok {
			sec, ok = num(2)
		}
		if ok && lit('.') {
			us, ok = num(6)
		}
		if ok && (h > 23 || mi > 59 || sec > 59) {
			return parsedISO{}, fmt.Errorf("%s %q is not a valid time", tag, s)
		}
	}
	if !ok {
		return parsedISO{}, bad
	}
	var out parsedISO
	if tag != tagDate && rest != "" {
		sign := int64(1)
		switch {
		case lit('+'):
		case lit('-'):
			sign = -1
		default:
			return parsedISO{}, bad
		}
		oh, ok1 := num(2)
		ok2 := lit(':')
		om, ok3 := num(2)
		var os, ous int
		okS := true
		if lit(':') {
			os, okS = num(2)
			if okS && lit('.') {
				ous, okS = num(6)
			}
		}
		total := sign * ((int64(oh)*3600+int64(om)*60+int64(os))*1000000 + int64(ous))
		if !ok1 || !ok2 || !ok3 || !okS || om > 59 || os > 59 || total <= -86400e6 || total >= 86400e6 {
			return parsedISO{}, bad
		}
		td := pyTimedelta{days: floorDiv(total, 86400e6)}
		r := total - td.days*86400e6
		td.seconds, td.micros = r/1e6, r%1e6
		out.offset = &td
	}
	if rest != "" {
		return parsedISO{}, bad
	}
	switch tag {
	case tagDatetime:
		out.state = []byte{byte(y >> 8), byte(y), byte(mo), byte(d), byte(h), byte(mi), byte(sec), byte(us >> 16), byte(us >> 8), byte(us)}
		if (&pyDatetime{year: y, month: mo, day: d, hour: h, minute: mi, second: sec, micro: us}).isoformat(out.offset) != s {
			return parsedISO{}, bad
		}
	case tagDate:
		out.state = []byte{byte(y >> 8), byte(y), byte(mo), byte(d)}
	case tagTime:
		out.state = []byte{byte(h), byte(mi), byte(sec), byte(us >> 16), byte(us >> 8), byte(us)}
		if (&pyTime{hour: h, minute: mi, second: sec, micro: us}).isoformat(out.offset) != s {
			return parsedISO{}, bad
		}
	}
	return out, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
