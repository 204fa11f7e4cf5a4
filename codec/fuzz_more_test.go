package codec

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzEncodeEdit is the mount's edit path: whatever bytes an editor leaves
// in KEY.json reach Encode. It never panics; it refuses with a typed error,
// or its output decodes, and saving what cat then shows (Pretty) again
// changes nothing — an edit that touches nothing stays a no-op.
func FuzzEncodeEdit(f *testing.F) {
	for _, s := range []string{
		"{\n  \"theme\": \"dark\",\n  \"cart\": [\n    1,\n    2\n  ]\n}\n",
		`{"a":1e400}`, `{"a":NaN}`, `{"a":1,"a":2}`, `{} x`, "\xef\xbb\xbf{}", `{"a":"\ud800"}`,
		`{"x":{"$object":"os.system","args":["id"]}}`, `{"t":{"$tuple":[1]},"s":{"$set":[2,1]}}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "{\"k\":\"\xff\"}", `[]`, ``,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	c := fuzzCodec(f)
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, in []byte, pickle bool) {
		opt := EncodeOptions{Serializer: SerializerJSON, Now: now}
		if pickle {
			opt.Serializer = SerializerPickle
		}
		out, err := c.Encode(in, opt)
		if err != nil {
			if out != nil {
				t.Fatalf("Encode error %v with output %q", err, out)
			}
			if !errors.Is(err, ErrInvalidSession) && !errors.Is(err, ErrUnsupportedValue) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped Encode error: %v", err)
			}
			return
		}
		js, info, err := c.Decode(out)
		if err != nil {
			t.Fatalf("Decode of our own output %q: %v", out, err)
		}
		if info.Serializer != opt.Serializer || info.KeyIndex != 0 {
			t.Fatalf("wrote %v with the current key, read %v with key %d", opt.Serializer, info.Serializer, info.KeyIndex)
		}
		shown, err := Pretty(js)
		if err != nil {
			t.Fatalf("Pretty(%s): %v", js, err)
		}
		again, err := c.Encode(shown, opt)
		if err != nil {
			t.Fatalf("saving what cat shows (%s) is refused: %v", shown, err)
		}
		back, _, err := c.Decode(again)
		if err != nil || !bytes.Equal(back, js) {
			t.Fatalf("saving what cat shows changed the session: %v\n got %s\nwant %s", err, back, js)
		}
	})
}
