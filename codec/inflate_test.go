package codec

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestInflateBound: output of exactly the limit inflates, one byte more is
// ErrTooLarge, in every build. The sizes are past what a pooled inflater
// keeps and far past the first guess from the compressed size, so a
// whole-buffer inflater has to grow its output up to the limit.
func TestInflateBound(t *testing.T) {
	t.Logf("inflater: %s", Inflater)
	const limit = 1 << 20
	for _, tc := range []struct {
		size int
		want error
	}{
		{0, nil},
		{1, nil},
		{limit - 1, nil},
		{limit, nil},
		{limit + 1, ErrTooLarge},
		{4 * limit, ErrTooLarge},
	} {
		in := bytes.Repeat([]byte("ab"), tc.size/2+1)[:tc.size]
		out, err := inflate(zlibOf(in), limit)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%d bytes: err = %v, want %v", tc.size, err, tc.want)
		}
		if tc.want == nil && !bytes.Equal(out, in) {
			t.Fatalf("%d bytes: inflated %d different bytes", tc.size, len(out))
		}
		if tc.want != nil && out != nil {
			t.Fatalf("%d bytes: a refused stream returned %d bytes", tc.size, len(out))
		}
	}
	// A zero limit still reads an empty stream and refuses a byte.
	if out, err := inflate(zlibOf(nil), 0); err != nil || len(out) != 0 {
		t.Fatalf("empty stream, zero limit: %q, %v", out, err)
	}
	if _, err := inflate(zlibOf([]byte("x")), 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte, zero limit: err = %v, want ErrTooLarge", err)
	}
}

// TestInflateFraming: the zlib framing is checked as CPython's
// zlib.decompress checks it (header, Adler-32 of the output), and bytes
// after the checksum are ignored as CPython ignores them.
func TestInflateFraming(t *testing.T) {
	payload := []byte(`{"_auth_user_id":"42","cart":"` + strings.Repeat("blue shirt ", 40) + `"}`)
	good := zlibOf(payload)
	corrupt := func(i int, mask byte) []byte {
		z := bytes.Clone(good)
		z[(i+len(z))%len(z)] ^= mask
		return z
	}
	var dict bytes.Buffer
	w, _ := zlib.NewWriterLevelDict(&dict, zlib.DefaultCompression, []byte("blue shirt"))
	w.Write(payload)
	w.Close()
	for _, tc := range []struct {
		name string
		z    []byte
		want error
	}{
		{"good", good, nil},
		{"trailing bytes after the checksum", append(bytes.Clone(good), "junk"...), nil},
		{"empty", nil, ErrCorruptZlib},
		{"header only", good[:2], ErrCorruptZlib},
		{"header check bits", corrupt(1, 0x01), ErrCorruptZlib},
		{"not deflate", corrupt(0, 0x01), ErrCorruptZlib},
		{"preset dictionary", dict.Bytes(), ErrCorruptZlib},
		{"Adler-32 last byte", corrupt(-1, 0x01), ErrCorruptZlib},
		{"Adler-32 first byte", corrupt(-4, 0x80), ErrCorruptZlib},
		{"no checksum", good[:len(good)-4], ErrCorruptZlib},
		{"truncated data", good[:len(good)/2], ErrCorruptZlib},
	} {
		out, err := inflate(tc.z, 1<<20)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if tc.want == nil && !bytes.Equal(out, payload) {
			t.Errorf("%s: inflated %q", tc.name, out)
		}
	}
}

// FuzzInflate: this build's inflater agrees with the standard library's
// zlib reader: the same bytes where both succeed, an ErrCorruptZlib or
// ErrTooLarge error where both refuse, never more than the limit. One
// difference is libdeflate's by design: it decodes a few invalid DEFLATE
// symbols (which zlib and CPython refuse) instead of failing on them, and
// leaves detecting corruption to the Adler-32 check, so it may inflate a
// stream the standard library refuses; never the other way round.
func FuzzInflate(f *testing.F) {
	lenient := strings.HasPrefix(Inflater, "libdeflate")
	payload := []byte(`{"_auth_user_id":"42","cart":"` + strings.Repeat("blue shirt ", 40) + `"}`)
	for _, z := range [][]byte{zlibOf(nil), zlibOf([]byte("x")), zlibOf(payload), zlibOf(bytes.Repeat([]byte{0}, 5000))} {
		f.Add(z)
		f.Add(z[:len(z)-1])
		f.Add(append(bytes.Clone(z), 0))
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, z []byte) {
		got, err := inflate(z, limit)
		var want []byte
		zr, stdErr := zlib.NewReader(bytes.NewReader(z))
		if stdErr == nil {
			want, stdErr = io.ReadAll(io.LimitReader(zr, limit+1))
			if stdErr == nil && len(want) > limit {
				stdErr = ErrTooLarge
			}
		}
		switch {
		case err == nil && stdErr == nil:
			if !bytes.Equal(got, want) {
				t.Fatalf("%s inflates %x to\n%q\ncompress/zlib to\n%q", Inflater, z, got, want)
			}
		case err == nil && !lenient:
			t.Fatalf("%s inflates %x (%d bytes), compress/zlib refuses it: %v", Inflater, z, len(got), stdErr)
		case err == nil:
			if len(got) > limit {
				t.Fatalf("%s inflates %x to %d bytes, over the limit", Inflater, z, len(got))
			}
		case stdErr == nil:
			t.Fatalf("%s refuses %x (%v), compress/zlib inflates it", Inflater, z, err)
		case !errors.Is(err, ErrCorruptZlib) && !errors.Is(err, ErrTooLarge):
			t.Fatalf("untyped error: %v", err)
		case got != nil:
			t.Fatalf("error %v with %d bytes of output", err, len(got))
		}
	})
}
