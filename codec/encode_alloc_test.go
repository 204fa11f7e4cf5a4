package codec

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// TestEncodeBigSessionAllocations: the mount encodes every save on the
// heap, next to the writer's off-heap buffer; a save of a large session
// allocates a small multiple of its size (the parsed value, the compact
// form, the compressed stream), not a multiple of that from growing
// buffers by appending, which a starved collector lets pile up.
func TestEncodeBigSessionAllocations(t *testing.T) {
	c, err := New(Config{SecretKey: []byte("alloc-test-secret-key")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"compressible", `{"big": "` + strings.Repeat("x", 15<<20) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(tc.doc)
			if _, err := c.Encode(doc, EncodeOptions{}); err != nil { // warm the pools
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			data, err := c.Encode(doc, EncodeOptions{})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) == 0 {
				t.Fatal("empty encoding")
			}
			if got, limit := after.TotalAlloc-before.TotalAlloc, 4*uint64(len(doc)); got > limit {
				t.Errorf("encoding a %d-byte session allocated %d bytes (%.1f× its size), want at most %d (4×)",
					len(doc), got, float64(got)/float64(len(doc)), limit)
			}
		})
	}
}

// TestDecodeBigSessionAllocations: decoding a large compressed session (the
// check after every save, a removal's audit, a read) holds its payload
// once: the inflater's buffer grows to it and is handed over rather than
// copied, so the bytes allocated stay under 3× the session's size.
func TestDecodeBigSessionAllocations(t *testing.T) {
	c, err := New(Config{SecretKey: []byte("alloc-test-secret-key")})
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"big": "` + strings.Repeat("x", 15<<20) + `"}`)
	data, err := c.Encode(doc, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Decode(data); err != nil { // warm the pools
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	js, _, err := c.Decode(data)
	runtime.ReadMemStats(&after)
	if err != nil || !bytes.Equal(js, []byte(`{"big":"`+strings.Repeat("x", 15<<20)+`"}`)) {
		t.Fatalf("Decode = %.40s…, %v", js, err)
	}
	got, limit := after.TotalAlloc-before.TotalAlloc, 3*uint64(len(doc))
	t.Logf("decoding a %d-byte session allocated %d bytes", len(doc), got)
	if got > limit {
		t.Errorf("decoding a %d-byte session allocated %d bytes (%.1f× its size), want at most %d (3×)",
			len(doc), got, float64(got)/float64(len(doc)), limit)
	}
}
