package codec

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// serializePickle writes a session as a protocol-2 pickle, the highest
// protocol Python 2 Djangos read, built only from the opcodes and globals
// CPython itself uses for these types (so Python 2 and 3 both load it).
// Opaque $object values cannot be rebuilt and are refused.
func serializePickle(v *node) ([]byte, error) { return serializePickleProto(v, 2) }

// serializePickleProto writes protocol 2, 4 or 5. Protocols 4 and 5 are
// written the way CPython's pickle.dumps writes them (frames, MEMOIZE, the
// memo references CPython makes for module names, classes, time zones and
// its one-character strings), so a session read from Python and written back
// unchanged usually gives the same bytes.
func serializePickleProto(v *node, proto int) ([]byte, error) {
	if proto != 2 && proto != 4 && proto != 5 {
		return nil, fmt.Errorf("%w: pickle protocol %d (sessionfs writes 2, 4 or 5)", ErrUnsupportedValue, proto)
	}
	w := pickleWriter{out: []byte{0x80, byte(proto)}, proto: proto, frameStart: -1}
	if proto >= 4 {
		w.memo = map[string]int{}
		w.startFrame()
	}
	if err := w.value(v, ""); err != nil {
		return nil, err
	}
	w.out = append(w.out, '.')
	w.commitFrame()
	return w.out, nil
}

type pickleWriter struct {
	out   []byte
	proto int
	// Protocol 4 and 5 only.
	frameStart int            // offset of the open frame's 9-byte header; -1: none
	memoLen    int            // memo entries so far (MEMOIZE numbers them in order)
	memo       map[string]int // what CPython would pickle once and then refer back to
}

const (
	pickleBatch     = 1000      // CPython's APPENDS/SETITEMS/ADDITEMS batch size
	frameTarget     = 64 << 10  // CPython's _FRAME_SIZE_TARGET
	frameMin        = 4         // a shorter frame is written without its header
	frameHeaderSize = 9         // FRAME + 8-byte length
	maxPickle4Len   = 1<<32 - 1 // longest BINUNICODE/BINBYTES; longer needs the 8-byte forms
)

func unsupported(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s at %s", ErrUnsupportedValue, fmt.Sprintf(format, args...), pathOrRoot(path))
}

func (w *pickleWriter) startFrame() {
	w.frameStart = len(w.out)
	w.out = append(w.out, make([]byte, frameHeaderSize)...)
}

// commitFrame fills in the open frame's header, or drops the header of a
// frame too short to need one, as CPython does.
func (w *pickleWriter) commitFrame() {
	if w.frameStart < 0 {
		return
	}
	n := len(w.out) - w.frameStart - frameHeaderSize
	if n >= frameMin {
		w.out[w.frameStart] = 0x95
		binary.LittleEndian.PutUint64(w.out[w.frameStart+1:], uint64(n))
	} else {
		copy(w.out[w.frameStart:], w.out[w.frameStart+frameHeaderSize:])
		w.out = w.out[:len(w.out)-frameHeaderSize]
	}
	w.frameStart = -1
}

// boundary is where CPython may end a frame: before each object it saves.
func (w *pickleWriter) boundary() {
	if w.frameStart >= 0 && len(w.out)-w.frameStart-frameHeaderSize >= frameTarget {
		w.commitFrame()
		w.startFrame()
	}
}

// payload writes an opcode's argument; CPython writes one of 64 KiB or more
// outside any frame.
func (w *pickleWriter) payload(header, data []byte) {
	if w.frameStart >= 0 && len(data) >= frameTarget {
		w.commitFrame()
		w.out = append(w.out, header...)
		w.out = append(w.out, data...)
		w.startFrame()
		return
	}
	w.out = append(w.out, header...)
	w.out = append(w.out, data...)
}

// memoize records the object just written (protocol 4+) and returns its index.
func (w *pickleWriter) memoize() int {
	if w.proto < 4 {
		return -1
	}
	w.out = append(w.out, 0x94)
	w.memoLen++
	return w.memoLen - 1
}

// recall writes a memo reference when key was memoized; the caller has
// already passed the boundary.
func (w *pickleWriter) recall(key string) bool {
	if w.proto < 4 {
		return false
	}
	i, ok := w.memo[key]
	if !ok {
		return false
	}
	if i < 256 {
		w.out = append(w.out, 'h', byte(i))
	} else {
		w.out = append(w.out, 'j')
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(i))
	}
	return true
}

func (w *pickleWriter) remember(key string, i int) {
	if w.proto >= 4 {
		w.memo[key] = i
	}
}

func (w *pickleWriter) value(v *node, path string) error {
	w.boundary()
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
		w.strValue(v.text)
	case kArr:
		w.out = append(w.out, ']')
		w.memoize()
		if len(v.items) == 1 && w.proto >= 4 {
			if err := w.value(&v.items[0], path+"/0"); err != nil {
				return err
			}
			w.out = append(w.out, 'a')
			return nil
		}
		return w.batched(len(v.items), 'e', false, func(i int) error {
			return w.value(&v.items[i], fmt.Sprintf("%s/%d", path, i))
		})
	case kObj:
		if tag, val, ok := asTag(v); ok {
			return w.tagged(tag, val, path)
		}
		w.out = append(w.out, '}')
		w.memoize()
		item := func(i int) error {
			w.boundary()
			w.strValue(v.keys[i])
			return w.value(&v.items[i], path+"/"+v.keys[i])
		}
		if len(v.items) == 1 && w.proto >= 4 {
			if err := item(0); err != nil {
				return err
			}
			w.out = append(w.out, 's')
			return nil
		}
		return w.batched(len(v.items), 'u', true, item)
	default:
		return unsupported(path, "value")
	}
	return nil
}

// batched writes MARK items... op in batches, as CPython does for lists,
// dicts and sets. CPython's dict and set loops (trailing) end with an empty
// batch when the size is a multiple of the batch size; protocol 2 output
// keeps its own simpler form.
func (w *pickleWriter) batched(n int, op byte, trailing bool, item func(int) error) error {
	for start := 0; start < n || trailing && w.proto >= 4 && start == n && n > 0; start += pickleBatch {
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

// str writes a string as protocol 2 does (BINUNICODE, no memo).
func (w *pickleWriter) str(s string) {
	w.out = append(w.out, 'X')
	w.out = binary.LittleEndian.AppendUint32(w.out, uint32(len(s)))
	w.out = append(w.out, s...) // WTF-8 = Python's utf-8 "surrogatepass"
}

// strValue writes a string the caller has passed the boundary for. From
// protocol 4 on, the empty string and one-character Latin-1 strings are
// CPython singletons, pickled once and then referred back to.
func (w *pickleWriter) strValue(s string) {
	if w.proto < 4 {
		w.str(s)
		return
	}
	single := s == "" || utf8.RuneCountInString(s) == 1 && s[0] < 0xc4 // U+0000..U+00FF
	if single && w.recall("s"+s) {
		return
	}
	var h [9]byte
	var header []byte
	switch n := len(s); {
	case n < 256:
		header = append(h[:0], 0x8c, byte(n))
	case n <= maxPickle4Len:
		header = binary.LittleEndian.AppendUint32(append(h[:0], 'X'), uint32(n))
	default:
		header = binary.LittleEndian.AppendUint64(append(h[:0], 0x8d), uint64(n))
	}
	w.payload(header, []byte(s))
	i := w.memoize()
	if single {
		w.remember("s"+s, i)
	}
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

// global pushes a class or function by name: GLOBAL at protocol 2 (with
// Python 2 module names), from protocol 4 STACK_GLOBAL of the module name
// (an interned string, pickled once) and the name, the result memoized so
// that the next use is a memo reference, as CPython does.
func (w *pickleWriter) global(module, name string) {
	if w.proto < 4 {
		if module == "builtins" {
			module = "__builtin__"
		}
		w.out = append(w.out, 'c')
		w.out = append(w.out, module...)
		w.out = append(w.out, '\n')
		w.out = append(w.out, name...)
		w.out = append(w.out, '\n')
		return
	}
	w.boundary()
	key := "g" + module + "." + name
	if w.recall(key) {
		return
	}
	w.boundary()
	if !w.recall("m" + module) {
		w.strValue(module)
		w.remember("m"+module, w.memoLen-1)
	}
	w.boundary()
	w.strValue(name)
	w.out = append(w.out, 0x93)
	w.remember(key, w.memoize())
}

// tuple writes n already-pushed items as a tuple.
func (w *pickleWriter) tuple(n int) {
	switch n {
	case 0:
		w.out = append(w.out, ')')
		return
	case 1, 2, 3:
		w.out = append(w.out, 0x84+byte(n))
	default:
		w.out = append(w.out, 't') // after a MARK the caller wrote
	}
	w.memoize()
}

// reduce ends "callable, argument tuple" with REDUCE and memoizes the result.
func (w *pickleWriter) reduce() int {
	w.out = append(w.out, 'R')
	return w.memoize()
}

// bytes writes a bytes value. At protocol 2 it is CPython 3's form,
// _codecs.encode(latin1 text, "latin1") (Python 2 loads it as a str); from
// protocol 4 SHORT_BINBYTES/BINBYTES, with CPython's empty and one-byte
// singletons pickled once.
func (w *pickleWriter) bytes(b []byte) {
	if w.proto >= 4 {
		w.boundary()
		single := len(b) <= 1
		if single && w.recall("b"+string(b)) {
			return
		}
		var h [9]byte
		var header []byte
		switch n := len(b); {
		case n < 256:
			header = append(h[:0], 'C', byte(n))
		case n <= maxPickle4Len:
			header = binary.LittleEndian.AppendUint32(append(h[:0], 'B'), uint32(n))
		default:
			header = binary.LittleEndian.AppendUint64(append(h[:0], 0x8e), uint64(n))
		}
		w.payload(header, b)
		i := w.memoize()
		if single {
			w.remember("b"+string(b), i)
		}
		return
	}
	if len(b) == 0 {
		w.global("builtins", "bytes")
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

// args writes a reduce argument tuple of n items.
func (w *pickleWriter) args(items ...func() error) error {
	w.boundary()
	if len(items) == 0 {
		w.out = append(w.out, ')')
		return nil
	}
	if len(items) > 3 {
		w.out = append(w.out, '(')
	}
	for _, it := range items {
		if err := it(); err != nil {
			return err
		}
	}
	w.tuple(len(items))
	return nil
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
		w.tuple(len(val.items))
	case tagSet, tagFrozenset:
		if val.kind != kArr {
			return unsupported(p, "%s needs a list", tag)
		}
		for i := range val.items {
			if err := hashable(&val.items[i], fmt.Sprintf("%s/%d", p, i)); err != nil {
				return err
			}
		}
		item := func(i int) error { return w.value(&val.items[i], fmt.Sprintf("%s/%d", p, i)) }
		switch {
		case w.proto < 4:
			w.global("builtins", tag[1:])
			if err := w.value(val, p); err != nil {
				return err
			}
			w.out = append(w.out, 0x85, 'R')
		case tag == tagSet:
			w.out = append(w.out, 0x8f)
			w.memoize()
			return w.batched(len(val.items), 0x90, true, item)
		default:
			w.out = append(w.out, '(')
			for i := range val.items {
				if err := item(i); err != nil {
					return err
				}
			}
			w.out = append(w.out, 0x91)
			w.memoize()
		}
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
		iso, zone, err := splitZone(s)
		if err == nil && zone != "" && tag != tagDatetime {
			err = fmt.Errorf("%s %q: only a $datetime takes a time zone name", tag, s)
		}
		var pt parsedISO
		if err == nil {
			pt, err = parseISO(tag, iso)
		}
		if err == nil && zone != "" {
			err = pt.inZone(zone)
		}
		if err != nil {
			return unsupported(p, "%v", err)
		}
		w.global("datetime", tag[1:])
		parts := []func() error{func() error { w.bytes(pt.state); return nil }}
		switch {
		case zone != "":
			parts = append(parts, func() error { return w.namedZone(zone) })
		case pt.offset != nil:
			parts = append(parts, func() error { w.timezone(*pt.offset); return nil })
		}
		if err := w.args(parts...); err != nil {
			return err
		}
		w.reduce()
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
		w.args(func() error { w.boundary(); w.strValue(s); return nil })
		w.reduce()
	case tagFloat:
		s, err := tagString(val, p, tag)
		if err != nil {
			return err
		}
		switch s {
		case "nan":
			w.float(math.Float64frombits(0x7ff8000000000000)) // CPython's float('nan')
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
		for i := range val.items {
			pair := &val.items[i]
			ip := fmt.Sprintf("%s/%d", p, i)
			if pair.kind != kArr || len(pair.items) != 2 {
				return unsupported(ip, "$dict needs [key, value] pairs")
			}
			if err := hashable(&pair.items[0], ip+"/0"); err != nil {
				return err
			}
		}
		w.out = append(w.out, '}')
		w.memoize()
		item := func(i int) error {
			ip := fmt.Sprintf("%s/%d", p, i)
			if err := w.value(&val.items[i].items[0], ip+"/0"); err != nil {
				return err
			}
			return w.value(&val.items[i].items[1], ip+"/1")
		}
		if len(val.items) == 1 && w.proto >= 4 {
			if err := item(0); err != nil {
				return err
			}
			w.out = append(w.out, 's')
			return nil
		}
		return w.batched(len(val.items), 'u', true, item)
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
	w.args(
		func() error { w.boundary(); w.int(td.days); return nil },
		func() error { w.boundary(); w.int(td.seconds); return nil },
		func() error { w.boundary(); w.int(td.micros); return nil },
	)
	w.reduce()
}

// timezone writes datetime.timezone(timedelta(...)) as CPython 3 does; UTC
// is a singleton, pickled once.
func (w *pickleWriter) timezone(off pyTimedelta) {
	w.boundary()
	utc := off == (pyTimedelta{})
	if utc && w.recall("utc") {
		return
	}
	w.global("datetime", "timezone")
	w.args(func() error { w.boundary(); w.timedelta(off); return nil })
	if i := w.reduce(); utc {
		w.remember("utc", i)
	}
}

// namedZone writes pytz.utc or zoneinfo.ZoneInfo(key) the way they pickle
// themselves: pytz._UTC() and getattr(ZoneInfo, "_unpickle")(key, 1).
// Each is one object in Python, pickled once.
func (w *pickleWriter) namedZone(zone string) error {
	w.boundary()
	key := "z" + zone
	if w.recall(key) {
		return nil
	}
	if zone == pytzUTCName {
		w.global("pytz", "_UTC")
		w.args()
		w.remember(key, w.reduce())
		return nil
	}
	w.boundary() // the bound method ZoneInfo._unpickle
	w.global("builtins", "getattr")
	w.args(
		func() error { w.global("zoneinfo", "ZoneInfo"); return nil },
		func() error { w.boundary(); w.strValue("_unpickle"); return nil },
	)
	w.reduce()
	w.args(
		func() error { w.boundary(); w.strValue(zone); return nil },
		func() error { w.boundary(); w.int(1); return nil },
	)
	w.remember(key, w.reduce())
	return nil
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
