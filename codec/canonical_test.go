package codec

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// slowDecodeJSON is decodeJSONSession without the canonical fast path.
func slowDecodeJSON(data []byte) ([]byte, error) {
	v, err := parseJSON(data, true)
	if err != nil || v.kind != kObj {
		return nil, err
	}
	return appendCompact(nil, &v), nil
}

func TestIsCanonical(t *testing.T) {
	for in, want := range map[string]bool{
		`{}`:                                   true,
		`{"a":[1,-2,2.5,1e+100,true,null]}`:    true,
		`{"s":"Zo\u00eb \ud83d\ude00 \u007f"}`: true,
		`{"s":"\ud800"}`:                       true,
		`{"a":1,"a":2}`:                        false, // duplicate
		`{"a": 1}`:                             false, // space
		`{"s":"\/"}`:                           false,
		`{"s":"\u0041"}`:                       false, // Python writes A
		`{"s":"\u00E9"}`:                       false, // upper-case hex
		`{"s":"\u000a"}`:                       false, // Python writes \n
		`{"s":"é"}`:                            false, // raw non-ASCII
		`{"f":1.50}`:                           false,
		`{"f":123.25,"g":-7.5,"h":100.0}`:      true,
		`{"f":0.5,"g":-0.001,"h":1.0}`:         true,
		`{"f":123456789012345.6}`:              true,  // 16 digits: the exact path decides
		`{"f":1234567890123456.7}`:             false, // Python writes 1234567890123456.8
		`{"f":12345678901234.56}`:              true,
		`{"f":1.0e5}`:                          false,
		`{"f":10.}`:                            false,
		`{"f":1E+100}`:                         false,
		`{"f":100000000000000000.0}`:           false, // Python: 1e+17
		`{"i":-0}`:                             false,
		`{"i":01}`:                             false,
		`{"$set":[1]}`:                         false, // tag-shaped
		`{"$object":"x","y":1}`:                false,
		`{"x":{"$bytes":""}}`:                  false,
		`{"$other":1}`:                         true,
		`[1]`:                                  false,
		`{"a":NaN}`:                            false,
	} {
		for _, bitmaps := range []bool{false, true} {
			if got := isCanonicalWith([]byte(in), bitmaps); got != want {
				t.Errorf("isCanonical(%s) = %v, want %v (bitmaps %v)", in, got, want, bitmaps)
			}
		}
		if want {
			slow, err := slowDecodeJSON([]byte(in))
			if err != nil || string(slow) != in {
				t.Errorf("canonical %s rebuilds as %s (%v)", in, slow, err)
			}
		}
	}
}

func TestPyFloatRepr(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", -0.5: "-0.5", 1e16: "1e+16", 1e15: "1000000000000000.0", 1e-4: "0.0001", 1e-5: "1e-05",
		1.5e300: "1.5e+300", 0.30000000000000004: "0.30000000000000004", 123.456: "123.456", 2.5e-7: "2.5e-07",
	} {
		if got := pyFloatRepr(f); got != want {
			t.Errorf("pyFloatRepr(%v) = %s, want %s", f, got, want)
		}
	}
}

// TestPlainReprFloat checks the shortcut against the exact repr on many texts.
func TestPlainReprFloat(t *testing.T) {
	texts := []string{"0.0", "-0.0", "1.0", "100.0", "1.5", "12.25", "0.0001", "0.00001", "1.10", "123456789012345.0",
		"1234567890123456.0", "12345678901234567.0", "0.1", "0.30000000000000004", "9007199254740993.0", "1e+16", "0.000123"}
	for i := 0; i < 20000; i++ {
		texts = append(texts, pyFloatRepr(float64(i)*0.37), pyFloatRepr(float64(i)/7), pyFloatRepr(float64(i)*1e11/3))
	}
	for _, text := range texts {
		if !plainReprFloat([]byte(text)) {
			continue
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || pyFloatRepr(f) != text {
			t.Errorf("plainReprFloat(%s) but repr is %s", text, pyFloatRepr(f))
		}
	}
	for text, want := range map[string]bool{"12.25": true, "1.10": false, "0.00001": false, "100.0": true, "12345678901234567.0": false} {
		if got := plainReprFloat([]byte(text)); got != want {
			t.Errorf("plainReprFloat(%s) = %v, want %v", text, got, want)
		}
	}
}

// TestIsCanonicalShapes: the fast path agrees with the general path, with
// and without string bitmaps, on the shapes its bookkeeping handles apart:
// strings across the bitmaps' words, duplicates at every nesting level
// (each object's keys, and its seen bits, restored after a nested container),
// objects past the linear duplicate check and past the allocation-free key
// stack, nesting up to the depth limit.
func TestIsCanonicalShapes(t *testing.T) {
	members := func(n int, dupOf int) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			k := i
			if i == n-1 && dupOf >= 0 {
				k = dupOf
			}
			fmt.Fprintf(&b, `"k%d":%d`, k, i)
		}
		b.WriteByte('}')
		return b.String()
	}
	nested := func(depth int, inner string) string {
		return strings.Repeat(`{"a":[`, depth) + inner + strings.Repeat(`]}`, depth)
	}
	cases := map[string]bool{
		`{"a":{"b":1},"b":2}`:                       true,  // same key in parent and child
		`{"a":{"b":1,"c":2},"b":2,"c":3}`:           true,  // keys seen in a child are not the parent's
		`{"a":{"b":1},"a":2}`:                       false, // duplicate after a nested object
		`{"a":[{"x":1},{"x":2}],"b":[[],{}],"a":1}`: false,
		`{"a":[{"x":1,"x":2}]}`:                     false, // duplicate inside an array's object
		`{"":1,"":2}`:                               false,
		`{"":1,"\"":2}`:                             true,
		`{"ab":1,"ac":2,"ad":3}`:                    true, // same length and first byte, different keys
		`{"ab":1,"ac":2,"ab":3}`:                    false,
		`{"a":1,"b":{"c":{"d":[1,{"e":2,"e":3}]}}}`: false,
		`{"a":{}}`:                                  true,
		`{"a":[]}`:                                  true,
		`{"a":[{}]}`:                                true,
		`{"$tuple":{"a":1},"b":2}`:                  true, // two members: not a tag
		`{"a":{"$set":[]}}`:                         false,
		`{"a":{"$object":1,"b":2}}`:                 false,
		members(16, -1):                             true,
		members(16, 3):                              false,
		members(17, -1):                             true,
		members(17, 0):                              false, // found at the object's end
		members(17, 15):                             false,
		members(100, -1):                            true, // past the key stack's array
		members(100, 99-40):                         false,
		members(2000, -1):                           true,
		members(2000, 1234):                         false,
		`{"x":` + members(40, -1) + `,"y":` + members(40, 7) + `}`: false,
		`{"x":` + members(40, -1) + `,"x":1}`:                      false,
		nested(maxDepth/2-1, `1`):                                  true,
		nested(maxDepth/2-1, `{"a":1,"a":2}`):                      false,
		nested(maxDepth/2+1, `1`):                                  false, // too deep: the general path refuses it
		`{"a":[1,2}`:                                               false,
		`{"a":{"b":1]}`:                                            false,
		`{"a":1}}`:                                                 false,
		`{"a":1`:                                                   false,
		`{"a"}`:                                                    false,
		`{"a":}`:                                                   false,
		`{"a":tru}`:                                                false,
		`{"a":nul}`:                                                false,
		`{"a":-}`:                                                  false,
		`{"a":1.}`:                                                 false,
		`{"a":"x\`:                                                 false,
		`{"a":"\u00e`:                                              false,
		`{"a":"0123456789abcdef\u00e9\ud83d\ude00 long enough for several words"}`:                true,
		`{"a":"0123456789abcdef` + "\x7f" + `"}`:                                                  false,
		`{"a":"0123456789abcdef` + "\x1f" + `"}`:                                                  false,
		`{"a":"0123456789abcdef` + "\xc3\xa9" + `"}`:                                              false,
		`{"a":"` + strings.Repeat("x", 70) + `\u00e9\n` + strings.Repeat("y", 130) + `\"","b":1}`: true,
		`{"a":"` + strings.Repeat("x", 70) + `\u00E9` + strings.Repeat("y", 130) + `"}`:           false,
		`{"a":"` + strings.Repeat("x", 130) + "\xff" + `"}`:                                       false,
		`{"a":"` + strings.Repeat("x", 600) + `"}`:                                                true,
		`{"a":"` + strings.Repeat("x", 600) + `}`:                                                 false,
		`{"` + strings.Repeat("k", 63) + `":1,"` + strings.Repeat("k", 63) + `":2}`:               false,
	}
	for in, want := range cases {
		got := isCanonical([]byte(in))
		if got != want {
			t.Errorf("isCanonical(%.120s) = %v, want %v", in, got, want)
		}
		if other := isCanonicalWith([]byte(in), len(in) < classesMin); other != got {
			t.Errorf("isCanonical(%.120s) is %v with string bitmaps, %v without", in, !other, other)
		}
		slow, err := slowDecodeJSON([]byte(in))
		if got && (err != nil || string(slow) != in) {
			t.Errorf("canonical %.120s rebuilds as %.120s (%v)", in, slow, err)
		}
		if !got && err == nil && string(slow) == in && want {
			t.Errorf("%.120s is canonical but the fast path refused it", in)
		}
	}
}
