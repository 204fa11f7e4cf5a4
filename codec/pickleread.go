package codec

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// decodePickleSession unpickles (after scanPickle) with gopickle restricted
// to the whitelist in findClass and converts the result to the tagged JSON
// form. budget bounds the output: memo references can make a small pickle
// describe a huge tree.
func decodePickleSession(p []byte, budget int64) ([]byte, error) {
	return decodePickle(p, pickleConverter{budget: budget})
}

// decodeCachePickle is decodePickleSession for values every Django worker
// unpickles with no signature to vouch for them: a pickle that calls or
// names any global outside the allow-list is refused (ErrForeignObject)
// instead of shown, so a planted payload reads as invalid, never as a session.
func decodeCachePickle(p []byte, budget int64) ([]byte, error) {
	return decodePickle(p, pickleConverter{budget: budget, strict: true})
}

func decodePickle(p []byte, conv pickleConverter) ([]byte, error) {
	v, err := unpickle(p)
	if err != nil {
		return nil, err
	}
	if !isDictPickled(v) {
		return nil, fmt.Errorf("%w: the pickled value is not a dict", ErrNotObject)
	}
	n, err := conv.node(v, 0)
	if err != nil {
		return nil, err
	}
	return appendCompact(nil, &n), nil
}

func isDictPickled(v any) bool {
	switch v.(type) {
	case *types.Dict, *types.OrderedDict:
		return true
	}
	return false
}

func unpickle(p []byte) (any, error) {
	zeroLongs, err := scanPickle(p)
	if err != nil {
		return nil, err
	}
	if len(zeroLongs) > 0 { // LONG1 "\x8a\x00" (0L) -> BININT1 "K\x00": same length, same value
		p = bytes.Clone(p)
		for _, at := range zeroLongs {
			p[at] = 'K'
		}
	}
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = findClass
	v, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptPickle, err)
	}
	return v, nil
}

type pickleConverter struct {
	budget int64
	strict bool // refuse globals outside the allow-list instead of showing them
}

// spend charges n bytes of text plus the memory of one tree node: memo
// references let a few hundred bytes of pickle describe a tree of billions
// of nodes, so the budget must count what the tree really costs.
func (c *pickleConverter) spend(n int) error {
	c.budget -= int64(n) + int64(unsafe.Sizeof(node{}))
	if c.budget < 0 {
		return fmt.Errorf("%w: the unpickled session would be too large", ErrTooLarge)
	}
	return nil
}

func (c *pickleConverter) node(v any, depth int) (node, error) {
	if depth > maxDepth {
		return node{}, fmt.Errorf("%w: nesting deeper than %d (or a cycle)", ErrCorruptPickle, maxDepth)
	}
	if err := c.spend(0); err != nil {
		return node{}, err
	}
	switch x := v.(type) {
	case nil:
		return node{kind: kNull}, nil
	case bool:
		if x {
			return node{kind: kTrue}, nil
		}
		return node{kind: kFalse}, nil
	case int:
		return node{kind: kNum, text: strconv.Itoa(x)}, nil
	case *big.Int:
		s := x.String()
		return node{kind: kNum, text: s}, c.spend(len(s))
	case float64:
		switch {
		case math.IsNaN(x):
			return tagNode(tagFloat, strNode("nan")), nil
		case math.IsInf(x, 1):
			return tagNode(tagFloat, strNode("inf")), nil
		case math.IsInf(x, -1):
			return tagNode(tagFloat, strNode("-inf")), nil
		}
		return node{kind: kNum, text: pyFloatRepr(x)}, nil
	case string:
		if err := c.spend(len(x)); err != nil {
			return node{}, err
		}
		// gopickle returns Python 2 str (bytes) and unicode alike; text that is
		// not UTF-8 can only have been a Python 2 byte string.
		if validWTF8(x) {
			return strNode(x), nil
		}
		return bytesNode([]byte(x)), nil
	case []byte:
		return bytesNode(x), c.spend(len(x) * 2)
	case *pyBytes:
		return bytesNode(x.b), c.spend(len(x.b) * 2)
	case *types.List:
		return c.seq(*x, depth)
	case *types.Tuple:
		n, err := c.seq(*x, depth)
		return tagNode(tagTuple, n), err
	case *types.Dict:
		keys := make([]any, len(*x))
		vals := make([]any, len(*x))
		for i, e := range *x {
			keys[i], vals[i] = e.Key, e.Value
		}
		return c.dict(keys, vals, depth)
	case *types.OrderedDict:
		var keys, vals []any
		for e := x.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			keys = append(keys, entry.Key)
			vals = append(vals, entry.Value)
		}
		return c.dict(keys, vals, depth)
	case *types.Set:
		items := make([]any, 0, len(*x))
		for k := range *x {
			items = append(items, k)
		}
		return c.set(items, false, depth)
	case *types.FrozenSet:
		items := make([]any, 0, len(*x))
		for k := range *x {
			items = append(items, k)
		}
		return c.set(items, true, depth)
	case *pySet:
		return c.set(x.items, x.frozen, depth)
	case *pyDatetime:
		if off, ok := plainOffset(x.tz); ok {
			return tagNode(tagDatetime, strNode(x.isoformat(off))), nil
		}
		if off, zone, ok := namedZone(x.tz, x); ok {
			return tagNode(tagDatetime, strNode(x.isoformat(off)+zone)), nil
		}
		return c.opaque("datetime.datetime", []any{x.isoformat(nil)}, x.tz, depth)
	case *pyDate:
		return tagNode(tagDate, strNode(fmt.Sprintf("%04d-%02d-%02d", x.year, x.month, x.day))), nil
	case *pyTime:
		if off, ok := plainOffset(x.tz); ok {
			return tagNode(tagTime, strNode(x.isoformat(off))), nil
		}
		return c.opaque("datetime.time", []any{x.isoformat(nil)}, x.tz, depth)
	case *pyTimedelta:
		return tagNode(tagTimedelta, timedeltaNode(x)), nil
	case *pyDecimal:
		return tagNode(tagDecimal, strNode(x.text)), nil
	case *pyTimezone:
		args := []any{x.offset}
		if x.name != nil {
			args = append(args, *x.name)
		}
		return c.opaque("datetime.timezone", args, nil, depth)
	case *pyPytzUTC:
		return c.opaque("pytz._UTC", nil, nil, depth)
	case *pyZoneInfo:
		return c.opaque("zoneinfo.ZoneInfo", []any{x.key}, nil, depth)
	case *pyPytzZone:
		return c.opaque("pytz._p", x.args, nil, depth)
	case *opaqueObject:
		if c.strict {
			return node{}, foreign(x.class)
		}
		return c.opaque(x.class, x.args, x.state, depth)
	case *opaqueClass:
		if c.strict {
			return node{}, foreign(x.name)
		}
		return c.opaque("global", []any{x.name}, nil, depth)
	case *types.GenericObject:
		if c.strict {
			return node{}, foreign(x.Class.Module + "." + x.Class.Name)
		}
		return c.opaque(x.Class.Module+"."+x.Class.Name, x.ConstructorArgs, nil, depth)
	case *types.GenericClass:
		if c.strict {
			return node{}, foreign(x.Module + "." + x.Name)
		}
		return c.opaque("global", []any{x.Module + "." + x.Name}, nil, depth)
	case *types.ByteArray:
		return c.opaque("builtins.bytearray", []any{[]byte(*x)}, nil, depth)
	}
	return node{}, fmt.Errorf("%w: unsupported pickled value of Go type %T", ErrCorruptPickle, v)
}

func foreign(class string) error {
	return fmt.Errorf("%w: %s (sessionfs neither runs nor rebuilds it)", ErrForeignObject, class)
}

func bytesNode(b []byte) node {
	return tagNode(tagBytes, strNode(base64.StdEncoding.EncodeToString(b)))
}

func timedeltaNode(d *pyTimedelta) node {
	return node{kind: kObj, keys: []string{"days", "seconds", "microseconds"}, items: []node{
		{kind: kNum, text: strconv.FormatInt(d.days, 10)},
		{kind: kNum, text: strconv.FormatInt(d.seconds, 10)},
		{kind: kNum, text: strconv.FormatInt(d.micros, 10)},
	}}
}

func (c *pickleConverter) seq(items []any, depth int) (node, error) {
	out := node{kind: kArr, items: make([]node, len(items))}
	for i, it := range items {
		var err error
		if out.items[i], err = c.node(it, depth+1); err != nil {
			return node{}, err
		}
	}
	return out, nil
}

// dict keeps Python semantics for repeated keys (gopickle appends them):
// first position, last value. String keys give a JSON object; any other key
// gives {"$dict":[[key,value],...]}.
func (c *pickleConverter) dict(keys, vals []any, depth int) (node, error) {
	allText := true
	for _, k := range keys {
		if s, ok := k.(string); !ok || !validWTF8(s) {
			allText = false
			break
		}
	}
	if allText {
		out := make([]string, 0, len(keys))
		items := make([]node, 0, len(keys))
		pos := make(map[string]int, len(keys))
		for i, k := range keys {
			v, err := c.node(vals[i], depth+1)
			if err != nil {
				return node{}, err
			}
			s := k.(string)
			if err := c.spend(len(s)); err != nil {
				return node{}, err
			}
			if j, ok := pos[s]; ok {
				items[j] = v
				continue
			}
			pos[s] = len(out)
			out = append(out, s)
			items = append(items, v)
		}
		return dictNode(out, items), nil
	}
	pairs := make([]node, 0, len(keys))
	pos := make(map[string]int, len(keys)) // keys by JSON text: a repeat keeps its first place, last value
	for i := range keys {
		k, err := c.node(keys[i], depth+2)
		if err != nil {
			return node{}, err
		}
		v, err := c.node(vals[i], depth+2)
		if err != nil {
			return node{}, err
		}
		text := string(appendCompact(nil, &k))
		if j, ok := pos[text]; ok {
			pairs[j].items[1] = v
			continue
		}
		pos[text] = len(pairs)
		pairs = append(pairs, node{kind: kArr, items: []node{k, v}})
	}
	return tagNode(tagDict, node{kind: kArr, items: pairs}), nil
}

// set sorts members by their JSON text so that the same set always reads the
// same (Python's iteration order is an accident of hashing).
func (c *pickleConverter) set(items []any, frozen bool, depth int) (node, error) {
	type member struct {
		n    node
		text []byte
	}
	ms := make([]member, 0, len(items))
	for _, it := range items {
		n, err := c.node(it, depth+1)
		if err != nil {
			return node{}, err
		}
		ms = append(ms, member{n, appendCompact(nil, &n)})
	}
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.text, b.text) })
	out := node{kind: kArr}
	for i, m := range ms {
		if i > 0 && bytes.Equal(m.text, ms[i-1].text) {
			continue
		}
		out.items = append(out.items, m.n)
	}
	tag := tagSet
	if frozen {
		tag = tagFrozenset
	}
	return tagNode(tag, out), nil
}

// opaque is the read-only form of what cannot be rebuilt:
// {"$object":"module.Name","args":[...],"state":...}.
func (c *pickleConverter) opaque(class string, args []any, state any, depth int) (node, error) {
	out := node{kind: kObj, keys: []string{tagObject}, items: []node{strNode(class)}}
	if len(args) > 0 {
		a, err := c.seq(args, depth)
		if err != nil {
			return node{}, err
		}
		out.keys = append(out.keys, "args")
		out.items = append(out.items, a)
	}
	if state != nil {
		s, err := c.node(state, depth+1)
		if err != nil {
			return node{}, err
		}
		out.keys = append(out.keys, "state")
		out.items = append(out.items, s)
	}
	return out, nil
}

// plainOffset accepts a naive value (nil) or a datetime.timezone without a
// name: those are exactly what isoformat() can express and we can rebuild.
func plainOffset(tz any) (*pyTimedelta, bool) {
	switch z := tz.(type) {
	case nil:
		return nil, true
	case *pyTimezone:
		return z.offset, z.name == nil
	}
	return nil, false
}

func (d *pyDatetime) isoformat(off *pyTimedelta) string {
	s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", d.year, d.month, d.day, d.hour, d.minute, d.second)
	if d.micro != 0 {
		s += fmt.Sprintf(".%06d", d.micro)
	}
	return s + formatOffset(off)
}

func (t *pyTime) isoformat(off *pyTimedelta) string {
	s := fmt.Sprintf("%02d:%02d:%02d", t.hour, t.minute, t.second)
	if t.micro != 0 {
		s += fmt.Sprintf(".%06d", t.micro)
	}
	return s + formatOffset(off)
}

// formatOffset is Python's "+HH:MM[:SS[.ffffff]]" of a UTC offset.
func formatOffset(off *pyTimedelta) string {
	if off == nil {
		return ""
	}
	us := off.total()
	sign := "+"
	if us < 0 {
		sign, us = "-", -us
	}
	h, m, s, f := us/3600e6, us/60e6%60, us/1e6%60, us%1e6
	out := fmt.Sprintf("%s%02d:%02d", sign, h, m)
	if s != 0 || f != 0 {
		out += fmt.Sprintf(":%02d", s)
		if f != 0 {
			out += fmt.Sprintf(".%06d", f)
		}
	}
	return out
}

// validWTF8 accepts UTF-8 plus encoded surrogates (Python 3 pickles lone
// surrogates with "surrogatepass").
func validWTF8(s string) bool {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := decodeWTF8(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		i += size
	}
	return true
}

func validDecimal(s string) bool {
	if len(s) == 0 || len(s) > 4300 {
		return false
	}
	t := s
	if t[0] == '+' || t[0] == '-' {
		t = t[1:]
	}
	if t == "" {
		return false
	}
	switch t {
	case "Infinity", "Inf", "NaN", "sNaN", "inf", "nan", "snan":
		return true
	}
	var p parser
	p.in = []byte(t)
	if len(t) > 0 && t[0] == '.' { // Decimal(".5") is fine, JSON ".5" is not
		p.in = append([]byte("0"), p.in...)
	}
	if n, err := p.number(); err != nil || p.pos != len(p.in) || n.kind != kNum {
		return false
	}
	return true
}
