package codec

import (
	"bytes"
	"testing"
)

// TestPlainFrom: the bitmap walk finds the closing quote of a plain
// string wherever the string starts and ends relative to the 64-byte
// words, and stops at its first escape or special byte.
func TestPlainFrom(t *testing.T) {
	for _, tc := range []struct {
		in           string
		end, special int // what plainFrom returns for the string at 0
	}{
		{`""`, 2, 0},
		{`"abc",`, 5, 0},
		{`"a\"b"`, 0, 2},
		{"\"a\x01\"", 0, 2},
		{"\"\xc3\xa9\"", 0, 1},
		{"\"ab\x7f\"", 0, 3},
		{`"abc`, 0, -1},
	} {
		for _, pad := range []int{0, 1, 60, 61, 62, 63, 64, 100, 127, 4095} {
			in := append(bytes.Repeat([]byte(" "), pad), tc.in...)
			c := classifyText(in, make([]uint64, 2*((len(in)+63)>>6)))
			end, special := c.plainFrom(pad + 1)
			wantEnd, wantSpecial := tc.end, tc.special
			if wantEnd != 0 {
				wantEnd += pad
			} else if wantSpecial >= 0 {
				wantSpecial += pad
			}
			if end != wantEnd || end == 0 && special != wantSpecial {
				t.Errorf("%q at %d: plainFrom = %d, %d; want %d, %d", tc.in, pad, end, special, wantEnd, wantSpecial)
			}
		}
	}
	long := `"` + string(bytes.Repeat([]byte("x"), 300)) + `"`
	for pad := range 64 {
		in := append(bytes.Repeat([]byte(" "), pad), long...)
		c := classifyText(in, make([]uint64, 2*((len(in)+63)>>6)))
		if end, _ := c.plainFrom(pad + 1); end != len(in) {
			t.Errorf("300-byte string at %d: plainFrom = %d, want %d", pad, end, len(in))
		}
		in[pad+200] = '\\'
		c = classifyText(in, make([]uint64, 2*((len(in)+63)>>6)))
		if end, special := c.plainFrom(pad + 1); end != 0 || special != pad+200 {
			t.Errorf("300-byte string with a backslash at %d: plainFrom = %d, %d, want 0, %d", pad+200, end, special, pad+200)
		}
	}
	var none byteClasses // an input too short to classify
	if end, special := none.plainFrom(1); end != 0 || special != -1 {
		t.Errorf("no bitmaps: plainFrom = %d, %d, want 0, -1", end, special)
	}
}

// TestStringEnd: a string is checked through the bitmaps and its escapes,
// across words, as canonStringFrom checks it byte by byte.
func TestStringEnd(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`"plain"`, true},
		{`"a\"b\\c\n"`, true},
		{`"\u00e9\ud83d\ude00 x"`, true},
		{`"\u00E9"`, false},
		{`"\u0041"`, false},
		{`"\/"`, false},
		{"\"a\x01\"", false},
		{"\"\xc3\xa9\"", false},
		{`"\`, false},
		{`"abc`, false},
	} {
		for _, pad := range []int{0, 1, 58, 60, 62, 63, 64, 120, 127} {
			for _, tail := range []int{0, 1, 70} {
				in := append(bytes.Repeat([]byte(" "), pad), tc.in...)
				in = append(in, bytes.Repeat([]byte(" "), tail)...)
				c := classifyText(in, make([]uint64, 2*((len(in)+63)>>6)))
				end, ok := c.stringEnd(in, pad)
				wantEnd, wantOK := canonStringFrom(in, pad+1)
				if ok != tc.ok || ok != wantOK || ok && end != wantEnd {
					t.Errorf("%q at %d (+%d): stringEnd = %d, %v; canonStringFrom %d, %v; want ok %v", tc.in, pad, tail, end, ok, wantEnd, wantOK, tc.ok)
				}
			}
		}
	}
}
