package codec

import (
	"bytes"
	"testing"
)

// TestPlainString: the bitmap walk finds the closing quote of a plain
// string wherever the string starts and ends relative to the 64-byte
// words, and hands a string back at its first escape or special byte.
func TestPlainString(t *testing.T) {
	for _, tc := range []struct {
		in        string
		end, from int // what plainString returns for the string at 0
	}{
		{`""`, 2, 0},
		{`"abc",`, 5, 0},
		{`"a\"b"`, 0, 2},
		{"\"a\x01\"", 0, 2},
		{"\"\xc3\xa9\"", 0, 1},
		{"\"ab\x7f\"", 0, 3},
		{`"abc`, 0, 1},
	} {
		for _, pad := range []int{0, 1, 60, 61, 62, 63, 64, 100, 127, 4095} {
			in := append(bytes.Repeat([]byte(" "), pad), tc.in...)
			c := classifyText(in, make([]uint64, 2*((len(in)+63)>>6)))
			end, from := c.plainString(pad)
			if tc.end != 0 && end != tc.end+pad || tc.end == 0 && (end != 0 || from != tc.from+pad) {
				t.Errorf("%q at %d: plainString = %d, %d; want %d, %d", tc.in, pad, end, from, tc.end, tc.from)
			}
		}
	}
	long := `"` + string(bytes.Repeat([]byte("x"), 300)) + `"`
	for pad := range 64 {
		in := append(bytes.Repeat([]byte(" "), pad), long...)
		c := classifyText(in, make([]uint64, 2*((len(in)+63)>>6)))
		if end, _ := c.plainString(pad); end != len(in) {
			t.Errorf("300-byte string at %d: plainString = %d, want %d", pad, end, len(in))
		}
		in[pad+200] = '\\'
		c = classifyText(in, make([]uint64, 2*((len(in)+63)>>6)))
		if end, from := c.plainString(pad); end != 0 || from != pad+200 {
			t.Errorf("300-byte string with a backslash at %d: plainString = %d, %d, want 0, %d", pad+200, end, from, pad+200)
		}
	}
	var none byteClasses // an input too short to classify
	if end, from := none.plainString(0); end != 0 || from != 1 {
		t.Errorf("no bitmaps: plainString = %d, %d, want 0, 1", end, from)
	}
}
