package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
)

// SameSession reports whether two JSON texts hold the same session, member
// order included (Django keeps insertion order, and so must sessionfs).
// Numbers compare by value: an integer of any size exactly, others as
// float64 (Python's repr and Go's shortest form differ in text only). When
// they differ, the answer says where.
func SameSession(a, b []byte) (bool, string, error) {
	va, err := parseOrdered(a)
	if err != nil {
		return false, "", fmt.Errorf("first JSON: %w", err)
	}
	vb, err := parseOrdered(b)
	if err != nil {
		return false, "", fmt.Errorf("second JSON: %w", err)
	}
	if where := diff("$", va, vb); where != "" {
		return false, where, nil
	}
	return true, "", nil
}

// member is one object member; objects keep their order as []member.
type member struct {
	key string
	val any
}

func parseOrdered(text []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		var obj []member
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, member{k.(string), v})
		}
		_, err := dec.Token() // '}'
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token() // ']'
		return arr, err
	}
	return tok, nil // string, json.Number, bool, nil
}

func diff(path string, a, b any) string {
	switch x := a.(type) {
	case []member:
		y, ok := b.([]member)
		if !ok {
			return fmt.Sprintf("%s: object vs %T", path, b)
		}
		for i := 0; i < len(x) && i < len(y); i++ {
			if x[i].key != y[i].key {
				return fmt.Sprintf("%s: member %d is %q vs %q (order or keys differ)", path, i, x[i].key, y[i].key)
			}
			if d := diff(path+"."+strconv.Quote(x[i].key), x[i].val, y[i].val); d != "" {
				return d
			}
		}
		if len(x) != len(y) {
			return fmt.Sprintf("%s: %d members vs %d", path, len(x), len(y))
		}
	case []any:
		y, ok := b.([]any)
		if !ok {
			return fmt.Sprintf("%s: array vs %T", path, b)
		}
		if len(x) != len(y) {
			return fmt.Sprintf("%s: %d items vs %d", path, len(x), len(y))
		}
		for i := range x {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); d != "" {
				return d
			}
		}
	case json.Number:
		y, ok := b.(json.Number)
		if !ok || !sameNumber(x, y) {
			return fmt.Sprintf("%s: %v vs %v", path, x, b)
		}
	default: // string, bool, nil
		if a != b {
			return fmt.Sprintf("%s: %.80q vs %.80q", path, fmt.Sprint(a), fmt.Sprint(b))
		}
	}
	return ""
}

func sameNumber(a, b json.Number) bool {
	ia, okA := new(big.Int).SetString(string(a), 10)
	ib, okB := new(big.Int).SetString(string(b), 10)
	if okA && okB {
		return ia.Cmp(ib) == 0
	}
	if okA != okB {
		return false // 1 and 1.0 are different Python values (int vs float)
	}
	fa, errA := strconv.ParseFloat(string(a), 64)
	fb, errB := strconv.ParseFloat(string(b), 64)
	return errA == nil && errB == nil && fa == fb
}
