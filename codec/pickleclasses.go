package codec

import (
	"fmt"
	"math/big"
	"time"

	"github.com/nlpodyssey/gopickle/types"
)

// The only globals a session pickle may name. Each is rebuilt in Go from its
// constructor arguments; nothing is ever called. Every other global becomes
// an opaqueClass, whose "instances" only record their name and arguments.

type pyBytes struct{ b []byte } // a pointer, so gopickle can hash it in a set

type pySet struct {
	items  []any
	frozen bool
}

type pyDatetime struct {
	year, month, day, hour, minute, second, micro int
	fold                                          bool
	tz                                            any // nil, *pyTimezone or an opaque tzinfo
}

type pyDate struct{ year, month, day int }

type pyTime struct {
	hour, minute, second, micro int
	fold                        bool
	tz                          any
}

type pyTimedelta struct{ days, seconds, micros int64 }

type pyTimezone struct {
	offset *pyTimedelta
	name   *string
}

type pyDecimal struct{ text string }

// pyPytzUTC is pytz.utc (Django before 4.0 made every aware datetime with it).
type pyPytzUTC struct{}

// pyPytzZone is a pytz zone other than UTC, pytz._p(zone, utcoffset, dst,
// tzname): recognised as harmless, shown, never rebuilt.
type pyPytzZone struct{ args []any }

// pyZoneInfo is zoneinfo.ZoneInfo(key), pickled as
// getattr(ZoneInfo, "_unpickle")(key, fromCache).
type pyZoneInfo struct {
	key       string
	fromCache int64
}

type opaqueObject struct {
	class string
	args  []any
	state any
}

type callFunc func(args ...any) (any, error)

func (f callFunc) Call(args ...any) (any, error) { return f(args...) }

type opaqueClass struct{ name string }

func (c *opaqueClass) Call(args ...any) (any, error) {
	return &opaqueObject{class: c.name, args: args}, nil
}

func (c *opaqueClass) PyNew(args ...any) (any, error) {
	return &opaqueObject{class: c.name, args: args}, nil
}

func (o *opaqueObject) PySetState(state any) error { o.state = state; return nil }

// findClass is the whitelist of globals (spec: never execute pickled code).
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "builtins.set", "__builtin__.set":
		return callFunc(func(args ...any) (any, error) { return newSet(args, false) }), nil
	case "builtins.frozenset", "__builtin__.frozenset":
		return callFunc(func(args ...any) (any, error) { return newSet(args, true) }), nil
	case "builtins.bytes", "__builtin__.bytes": // CPython's protocol-2 form of b""
		return callFunc(func(args ...any) (any, error) {
			if len(args) != 0 {
				return nil, fmt.Errorf("bytes() with arguments")
			}
			return &pyBytes{}, nil
		}), nil
	case "_codecs.encode":
		return callFunc(codecsEncode), nil
	case "copyreg._reconstructor":
		return &types.Reconstructor{}, nil
	case "builtins.object":
		return &types.ObjectClass{}, nil
	case "datetime.datetime":
		return callFunc(newDatetime), nil
	case "datetime.date":
		return callFunc(newDate), nil
	case "datetime.time":
		return callFunc(newTime), nil
	case "datetime.timedelta":
		return callFunc(newTimedelta), nil
	case "datetime.timezone":
		return callFunc(newTimezone), nil
	case "decimal.Decimal":
		return callFunc(newDecimal), nil
	case "pytz._UTC":
		return callFunc(newPytzUTC), nil
	case "pytz._p":
		return callFunc(newPytzZone), nil
	case "builtins.getattr", "__builtin__.getattr":
		return callFunc(getattrZoneInfo), nil
	}
	return &opaqueClass{name: module + "." + name}, nil
}

func newSet(args []any, frozen bool) (any, error) {
	s := &pySet{frozen: frozen}
	if len(args) == 0 {
		return s, nil
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("set() takes one iterable")
	}
	switch it := args[0].(type) {
	case *types.List:
		s.items = append(s.items, (*it)...)
	case *types.Tuple:
		s.items = append(s.items, (*it)...)
	default:
		return nil, fmt.Errorf("set() of %T", args[0])
	}
	return s, nil
}

// codecsEncode is _codecs.encode(text, "latin1"): how Python 3 writes bytes
// in protocol 2 pickles.
func codecsEncode(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("_codecs.encode needs an argument")
	}
	text, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("_codecs.encode of %T", args[0])
	}
	if len(args) > 1 {
		if enc, _ := args[1].(string); enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" {
			return nil, fmt.Errorf("_codecs.encode with encoding %v", args[1])
		}
	} else {
		return &pyBytes{[]byte(text)}, nil // default utf-8
	}
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if r > 0xff {
			return nil, fmt.Errorf("_codecs.encode: %U is not latin1", r)
		}
		out = append(out, byte(r))
	}
	return &pyBytes{out}, nil
}

// stateBytes returns the byte state CPython pickles dates and times with:
// bytes (Python 3) or str (Python 2 BINSTRING).
func stateBytes(v any, n int) ([]byte, bool) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case *pyBytes:
		b = x.b
	case string:
		for _, r := range x { // Python 2 str, or a latin1 text
			if r > 0xff {
				return nil, false
			}
			b = append(b, byte(r))
		}
	default:
		return nil, false
	}
	return b, len(b) == n
}

func optTZ(args []any, i int) (any, error) {
	if len(args) <= i {
		return nil, nil
	}
	return args[i], nil
}

func newDatetime(args ...any) (any, error) {
	if len(args) == 0 || len(args) > 2 {
		return nil, fmt.Errorf("datetime: unsupported arguments")
	}
	b, ok := stateBytes(args[0], 10)
	if !ok {
		return nil, fmt.Errorf("datetime: unsupported state %T", args[0])
	}
	tz, _ := optTZ(args, 1)
	d := &pyDatetime{
		year: int(b[0])<<8 | int(b[1]), month: int(b[2] & 0x7f), day: int(b[3]),
		hour: int(b[4]), minute: int(b[5]), second: int(b[6]),
		micro: int(b[7])<<16 | int(b[8])<<8 | int(b[9]),
		fold:  b[2]&0x80 != 0, tz: tz,
	}
	if !validDate(d.year, d.month, d.day) || d.hour > 23 || d.minute > 59 || d.second > 59 || d.micro > 999999 {
		return nil, fmt.Errorf("datetime: state out of range")
	}
	return d, nil
}

func newDate(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("date: unsupported arguments")
	}
	b, ok := stateBytes(args[0], 4)
	if !ok {
		return nil, fmt.Errorf("date: unsupported state %T", args[0])
	}
	d := &pyDate{year: int(b[0])<<8 | int(b[1]), month: int(b[2]), day: int(b[3])}
	if !validDate(d.year, d.month, d.day) {
		return nil, fmt.Errorf("date: state out of range")
	}
	return d, nil
}

func newTime(args ...any) (any, error) {
	if len(args) == 0 || len(args) > 2 {
		return nil, fmt.Errorf("time: unsupported arguments")
	}
	b, ok := stateBytes(args[0], 6)
	if !ok {
		return nil, fmt.Errorf("time: unsupported state %T", args[0])
	}
	tz, _ := optTZ(args, 1)
	t := &pyTime{hour: int(b[0] & 0x7f), minute: int(b[1]), second: int(b[2]),
		micro: int(b[3])<<16 | int(b[4])<<8 | int(b[5]), fold: b[0]&0x80 != 0, tz: tz}
	if t.hour > 23 || t.minute > 59 || t.second > 59 || t.micro > 999999 {
		return nil, fmt.Errorf("time: state out of range")
	}
	return t, nil
}

func smallInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}

func newTimedelta(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("timedelta: unsupported arguments")
	}
	var v [3]int64
	for i, a := range args {
		n, ok := smallInt(a)
		if !ok {
			return nil, fmt.Errorf("timedelta: argument %T", a)
		}
		v[i] = n
	}
	// CPython's pickled state is normalized; anything else was not written by it.
	if v[1] < 0 || v[1] >= 86400 || v[2] < 0 || v[2] >= 1000000 || v[0] < -999999999 || v[0] > 999999999 {
		return nil, fmt.Errorf("timedelta: state out of range")
	}
	return &pyTimedelta{days: v[0], seconds: v[1], micros: v[2]}, nil
}

func newTimezone(args ...any) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("timezone: unsupported arguments")
	}
	off, ok := args[0].(*pyTimedelta)
	if !ok {
		return nil, fmt.Errorf("timezone: offset %T", args[0])
	}
	if us := off.total(); us <= -86400e6 || us >= 86400e6 {
		return nil, fmt.Errorf("timezone: offset out of range")
	}
	tz := &pyTimezone{offset: off}
	if len(args) == 2 {
		name, ok := args[1].(string)
		if !ok {
			return nil, fmt.Errorf("timezone: name %T", args[1])
		}
		tz.name = &name
	}
	return tz, nil
}

func (d *pyTimedelta) total() int64 { return (d.days*86400+d.seconds)*1000000 + d.micros }

func newDecimal(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("Decimal: unsupported arguments")
	}
	s, ok := args[0].(string)
	if !ok || !validDecimal(s) {
		return nil, fmt.Errorf("Decimal: unsupported argument")
	}
	return &pyDecimal{text: s}, nil
}

func newPytzUTC(args ...any) (any, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("pytz._UTC: unsupported arguments")
	}
	return &pyPytzUTC{}, nil
}

func newPytzZone(args ...any) (any, error) {
	if len(args) < 1 || len(args) > 4 {
		return nil, fmt.Errorf("pytz._p: unsupported arguments")
	}
	for i, a := range args {
		_, isStr := a.(string)
		_, isInt := smallInt(a)
		if i == 0 && !isStr || i > 0 && !isStr && !isInt && a != nil {
			return nil, fmt.Errorf("pytz._p: unsupported arguments")
		}
	}
	return &pyPytzZone{args: args}, nil
}

// getattrZoneInfo accepts exactly getattr(zoneinfo.ZoneInfo, "_unpickle"),
// the way ZoneInfo pickles itself; any other getattr stays an inert record.
func getattrZoneInfo(args ...any) (any, error) {
	if len(args) == 2 {
		c, ok := args[0].(*opaqueClass)
		if name, _ := args[1].(string); ok && c.name == "zoneinfo.ZoneInfo" && name == "_unpickle" {
			return callFunc(newZoneInfo), nil
		}
	}
	return &opaqueObject{class: "builtins.getattr", args: args}, nil
}

func newZoneInfo(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("ZoneInfo._unpickle: unsupported arguments")
	}
	key, ok := args[0].(string)
	from, ok2 := smallInt(args[1])
	if !ok || !ok2 {
		return nil, fmt.Errorf("ZoneInfo._unpickle: unsupported arguments")
	}
	return &pyZoneInfo{key: key, fromCache: from}, nil
}

// validDate is what Python's datetime accepts: years 1..9999, real days.
func validDate(y, m, d int) bool {
	return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
		time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() == d
}
