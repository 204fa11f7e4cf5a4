package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// scanPickle walks every opcode of a pickle before gopickle sees it, and
// rejects what gopickle would mishandle instead of reporting an error:
//   - a declared length beyond the remaining input (gopickle allocates the
//     declared length first, so a 4 GiB claim would be a 4 GiB allocation);
//   - opcodes a session never needs (persistent ids, extensions, out-of-band
//     buffers);
//   - integers longer than Python's own 4300-digit limit (decoding them is
//     quadratic);
//   - shapes that make gopickle panic: LONG4 of length 0, DICT or
//     SETITEMS with an odd number of items, bytes put into a set or used as an
//     OrderedDict key (gopickle keeps those in Go maps, and []byte cannot be
//     a map key).
//
// For the last point it tracks, per stack slot, only a coarse type.
//
// It returns the offsets of zero-length LONG1 opcodes (Python 2 pickles 0L
// that way), which the caller rewrites to BININT1 0 before gopickle runs.
func scanPickle(p []byte) ([]int, error) {
	s := pickleScanner{in: p, memo: map[uint64]slotType{}}
	err := s.run()
	return s.zeroLongs, err
}

type slotType uint8

const (
	slotOther slotType = iota
	slotMark
	slotBytes
	slotMaybeODClass // a global that may be collections.OrderedDict
	slotMaybeOD      // an object built from such a global
)

type pickleScanner struct {
	in        []byte
	pos       int
	stack     []slotType
	memo      map[uint64]slotType
	zeroLongs []int // offsets of LONG1 with length 0
}

const maxPickleIntBytes = 1800 // ~4300 decimal digits, Python's int/str limit

func (s *pickleScanner) errf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrCorruptPickle, s.pos, fmt.Sprintf(format, args...))
}

func (s *pickleScanner) take(n uint64) ([]byte, error) {
	if n > uint64(len(s.in)-s.pos) {
		return nil, s.errf("declared length %d exceeds the remaining %d bytes", n, len(s.in)-s.pos)
	}
	b := s.in[s.pos : s.pos+int(n)]
	s.pos += int(n)
	return b, nil
}

func (s *pickleScanner) line() ([]byte, error) {
	i := bytes.IndexByte(s.in[s.pos:], '\n')
	if i < 0 {
		return nil, s.errf("unterminated text argument")
	}
	b := s.in[s.pos : s.pos+i]
	s.pos += i + 1
	return b, nil
}

func (s *pickleScanner) push(t slotType) { s.stack = append(s.stack, t) }

func (s *pickleScanner) pop(n int) ([]slotType, error) {
	if len(s.stack) < n {
		return nil, s.errf("stack underflow")
	}
	top := s.stack[len(s.stack)-n:]
	for _, t := range top {
		if t == slotMark {
			return nil, s.errf("unexpected mark")
		}
	}
	s.stack = s.stack[:len(s.stack)-n]
	return top, nil
}

func (s *pickleScanner) popMark() ([]slotType, error) {
	for i := len(s.stack) - 1; i >= 0; i-- {
		if s.stack[i] == slotMark {
			items := s.stack[i+1:]
			s.stack = s.stack[:i]
			return items, nil
		}
	}
	return nil, s.errf("no mark on the stack")
}

func (s *pickleScanner) top() (slotType, error) {
	if len(s.stack) == 0 {
		return 0, s.errf("stack underflow")
	}
	return s.stack[len(s.stack)-1], nil
}

func has(items []slotType, t slotType) bool {
	for _, x := range items {
		if x == t {
			return true
		}
	}
	return false
}

func (s *pickleScanner) run() error {
	for s.pos < len(s.in) {
		op := s.in[s.pos]
		s.pos++
		if err := s.step(op); err != nil {
			return err
		}
		if op == '.' {
			return nil
		}
	}
	return s.errf("pickle ends without STOP")
}

func (s *pickleScanner) sized(lenBytes int, signed bool) ([]byte, error) {
	raw, err := s.take(uint64(lenBytes))
	if err != nil {
		return nil, err
	}
	var n uint64
	switch lenBytes {
	case 1:
		n = uint64(raw[0])
	case 4:
		n = uint64(binary.LittleEndian.Uint32(raw))
		if signed && int32(n) < 0 {
			return nil, s.errf("negative length")
		}
	case 8:
		n = binary.LittleEndian.Uint64(raw)
	}
	return s.take(n)
}

func (s *pickleScanner) step(op byte) error {
	var err error
	var items []slotType
	switch op {
	case 0x80: // PROTO
		_, err = s.take(1)
	case 0x95: // FRAME: its contents are ordinary opcodes
		var raw []byte
		if raw, err = s.take(8); err == nil && binary.LittleEndian.Uint64(raw) > uint64(len(s.in)-s.pos) {
			err = s.errf("frame longer than the pickle")
		}
	case '.': // STOP
		_, err = s.pop(1)
	case '(': // MARK
		s.push(slotMark)
	case '0': // POP
		if t, e := s.top(); e == nil && t == slotMark {
			_, err = s.popMark()
		} else {
			_, err = s.pop(1)
		}
	case '1': // POP_MARK
		_, err = s.popMark()
	case '2': // DUP
		var t slotType
		if t, err = s.top(); err == nil {
			s.push(t)
		}
	case 'N', 0x88, 0x89, ')', ']', '}', 0x8f: // NONE NEWTRUE NEWFALSE EMPTY_TUPLE EMPTY_LIST EMPTY_DICT EMPTY_SET
		s.push(slotOther)
	case 'K': // BININT1
		_, err = s.take(1)
		s.push(slotOther)
	case 'M': // BININT2
		_, err = s.take(2)
		s.push(slotOther)
	case 'J': // BININT
		_, err = s.take(4)
		s.push(slotOther)
	case 'G': // BINFLOAT
		_, err = s.take(8)
		s.push(slotOther)
	case 0x8a, 0x8b: // LONG1, LONG4
		var b []byte
		if b, err = s.sized(map[byte]int{0x8a: 1, 0x8b: 4}[op], true); err == nil {
			switch {
			case len(b) == 0 && op == 0x8a:
				s.zeroLongs = append(s.zeroLongs, s.pos-2)
			case len(b) == 0:
				err = s.errf("zero-length LONG4") // gopickle would index b[-1]
			case len(b) > maxPickleIntBytes:
				err = s.errf("integer of %d bytes is too large", len(b))
			}
		}
		s.push(slotOther)
	case 'I', 'L', 'F': // INT, LONG, FLOAT (text)
		var b []byte
		if b, err = s.line(); err == nil && len(b) > 4300 {
			err = s.errf("number text too long")
		}
		if err == nil && op == 'L' && len(b) == 0 {
			err = s.errf("empty LONG")
		}
		s.push(slotOther)
	case 'S', 'V': // STRING, UNICODE (text)
		_, err = s.line()
		s.push(slotOther)
	case 'U', 0x8c: // SHORT_BINSTRING, SHORT_BINUNICODE
		_, err = s.sized(1, false)
		s.push(slotOther)
	case 'T': // BINSTRING
		_, err = s.sized(4, true)
		s.push(slotOther)
	case 'X': // BINUNICODE
		_, err = s.sized(4, false)
		s.push(slotOther)
	case 0x8d, 0x96: // BINUNICODE8, BYTEARRAY8
		_, err = s.sized(8, false)
		s.push(slotOther)
	case 'C': // SHORT_BINBYTES
		_, err = s.sized(1, false)
		s.push(slotBytes)
	case 'B': // BINBYTES
		_, err = s.sized(4, false)
		s.push(slotBytes)
	case 0x8e: // BINBYTES8
		_, err = s.sized(8, false)
		s.push(slotBytes)
	case 'c': // GLOBAL module\nname\n
		var mod, name []byte
		if mod, err = s.line(); err == nil {
			name, err = s.line()
		}
		if string(mod) == "collections" && string(name) == "OrderedDict" {
			s.push(slotMaybeODClass)
		} else {
			s.push(slotOther)
		}
	case 0x93: // STACK_GLOBAL: names unknown here, assume the worst
		_, err = s.pop(2)
		s.push(slotMaybeODClass)
	case 'R': // REDUCE
		if items, err = s.pop(2); err == nil && items[0] == slotMaybeODClass {
			s.push(slotMaybeOD)
		} else {
			s.push(slotOther)
		}
	case 0x81: // NEWOBJ
		if items, err = s.pop(2); err == nil && items[0] == slotMaybeODClass {
			s.push(slotMaybeOD)
		} else {
			s.push(slotOther)
		}
	case 0x92: // NEWOBJ_EX
		_, err = s.pop(3)
		s.push(slotOther)
	case 'b': // BUILD
		_, err = s.pop(1)
	case 'o', 'i': // OBJ, INST
		if op == 'i' {
			if _, err = s.line(); err == nil {
				_, err = s.line()
			}
		}
		if err == nil {
			_, err = s.popMark()
		}
		s.push(slotOther)
	case 'a': // APPEND
		_, err = s.pop(1)
	case 'e': // APPENDS
		_, err = s.popMark()
	case 's': // SETITEM
		if items, err = s.pop(2); err == nil {
			err = s.checkSetItems(items)
		}
	case 'u': // SETITEMS
		if items, err = s.popMark(); err == nil {
			err = s.checkSetItems(items)
		}
	case 'd': // DICT
		if items, err = s.popMark(); err == nil && len(items)%2 != 0 {
			err = s.errf("DICT with an odd number of items")
		}
		s.push(slotOther)
	case 0x90: // ADDITEMS
		if items, err = s.popMark(); err == nil && has(items, slotBytes) {
			err = s.errf("bytes in a set are not supported")
		}
	case 0x91: // FROZENSET
		if items, err = s.popMark(); err == nil && has(items, slotBytes) {
			err = s.errf("bytes in a frozenset are not supported")
		}
		s.push(slotOther)
	case 'l', 't': // LIST, TUPLE
		_, err = s.popMark()
		s.push(slotOther)
	case 0x85, 0x86, 0x87: // TUPLE1..3
		_, err = s.pop(int(op - 0x84))
		s.push(slotOther)
	case 'p', 'g': // PUT, GET (decimal text index)
		var b []byte
		var idx uint64
		if b, err = s.line(); err == nil {
			if idx, err = strconv.ParseUint(string(b), 10, 63); err != nil {
				err = s.errf("bad memo index")
			}
		}
		if err == nil {
			err = s.memoOp(op == 'p', idx)
		}
	case 'q', 'h': // BINPUT, BINGET
		var b []byte
		if b, err = s.take(1); err == nil {
			err = s.memoOp(op == 'q', uint64(b[0]))
		}
	case 'r', 'j': // LONG_BINPUT, LONG_BINGET
		var b []byte
		if b, err = s.take(4); err == nil {
			err = s.memoOp(op == 'r', uint64(binary.LittleEndian.Uint32(b)))
		}
	case 0x94: // MEMOIZE
		err = s.memoOp(true, uint64(len(s.memo)))
	default: // PERSID, BINPERSID, EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER, unknown
		err = s.errf("opcode %#02x is not allowed in a session pickle", op)
	}
	return err
}

func (s *pickleScanner) memoOp(put bool, idx uint64) error {
	if put {
		t, err := s.top()
		if err != nil {
			return err
		}
		if t == slotMark {
			return s.errf("PUT of a mark")
		}
		s.memo[idx] = t
		return nil
	}
	t, ok := s.memo[idx]
	if !ok {
		return s.errf("memo %d used before it was set", idx)
	}
	s.push(t)
	return nil
}

// checkSetItems looks at key/value pairs set into the object now on top.
func (s *pickleScanner) checkSetItems(items []slotType) error {
	if len(items)%2 != 0 {
		return s.errf("SETITEMS with an odd number of items")
	}
	target, err := s.top()
	if err != nil {
		return err
	}
	if target == slotMaybeOD {
		for i := 0; i < len(items); i += 2 {
			if items[i] == slotBytes {
				return s.errf("bytes keys in an OrderedDict are not supported")
			}
		}
	}
	return nil
}
