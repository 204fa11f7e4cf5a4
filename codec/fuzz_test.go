package codec

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// fuzzCodec verifies with a fallback key, so fuzzing explores key rotation too.
func fuzzCodec(t testing.TB) *Codec {
	return mustNew(t, Config{
		SecretKey:      []byte("vector-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"),
		FallbackKeys:   [][]byte{[]byte("old-vector-secret-key-rotated-away"), []byte(testSecret)},
		MaxDecodedSize: 1 << 20,
	})
}

func addVectorSeeds(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.Encoded))
	}
}

// FuzzDecode: arbitrary bytes never panic; a success is an object that
// Pretty renders and that re-encodes (JSON, or pickle when tagged) to a
// session decoding to the same JSON.
func FuzzDecode(f *testing.F) {
	addVectorSeeds(f)
	c := fuzzCodec(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		js, info, err := c.Decode(data)
		if err != nil {
			if js != nil {
				t.Fatalf("error %v with a session", err)
			}
			for _, sentinel := range []error{ErrBadSignature, ErrCorrupt, ErrUnknownFormat, ErrTooLarge} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("untyped error: %v", err)
		}
		if len(js) == 0 || js[0] != '{' {
			t.Fatalf("decoded to a non-object %q", js)
		}
		if _, err := Pretty(js); err != nil {
			t.Fatalf("Pretty(%s): %v", js, err)
		}
		opt := EncodeOptions{Serializer: info.Serializer}
		if !HasTagged(js) {
			opt.Serializer = SerializerJSON
		}
		out, err := c.Encode(js, opt)
		if errors.Is(err, ErrUnsupportedValue) && bytes.Contains(js, []byte(`"$object"`)) {
			return // opaque objects are read-only
		}
		if err != nil {
			t.Fatalf("Encode(%s): %v", js, err)
		}
		back, _, err := c.Decode(out)
		if err != nil || !bytes.Equal(back, js) {
			t.Fatalf("round trip: %v\n got %s\nwant %s", err, back, js)
		}
	})
}

// FuzzEncodeRoundTrip: JSON -> Encode -> Decode gives the same JSON, for every
// format and serializer that accepts it. Tagged values are normalized once
// (sets sorted and deduplicated with Python's equality, redundant $dict
// escapes dropped), so for them the property is that the second round trip
// changes nothing.
func FuzzEncodeRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"cart":[1,2,3],"theme":"dark"}`, `{"n":"Zo\u00eb 😀","x":1.5e300,"b":123456789012345678901234567890}`,
		`{"t":{"$tuple":[1,{"$set":[2]}]},"d":{"$datetime":"2024-01-02T03:04:05.000001+05:30"},"b":{"$bytes":"AP8="}}`,
		`{"k":{"$dict":[[1,"a"],[{"$tuple":[]},null]]},"f":{"$float":"nan"},"dec":{"$decimal":"-1.50"}}`,
		`{"td":{"$timedelta":{"days":-1,"seconds":86399,"microseconds":999999}},"date":{"$date":"2024-02-29"},"t":{"$time":"23:59:59"}}`,
		"{\n  \"pretty\": [\n    true,\n    false,\n    null\n  ]\n}\n", `{"-0":-0,"e":1E5,"s":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	c := fuzzCodec(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if isCanonical(in) { // the Decode fast path must agree with the general path
			if slow, err := slowDecodeJSON(in); err != nil || !bytes.Equal(slow, in) {
				t.Fatalf("canonical %s rebuilds as %s (%v)", in, slow, err)
			}
		}
		if isCanonicalWith(in, true) != isCanonicalWith(in, false) {
			t.Fatalf("isCanonical(%s) differs with and without string bitmaps", in)
		}
		want, err := canonical(in)
		if err != nil {
			return // not a session: Encode must say so
		}
		tagged := bytes.Contains(want, []byte(`"$`))
		for _, format := range []Format{FormatSigned, FormatLegacy, FormatMD5} {
			for _, ser := range []Serializer{SerializerJSON, SerializerPickle} {
				opt := EncodeOptions{Format: format, Serializer: ser, Now: time.Unix(1700000000, 0)}
				got, ok := roundTrip(t, c, in, opt)
				if !ok {
					continue
				}
				if tagged {
					want = got
					if got, ok = roundTrip(t, c, got, opt); !ok {
						t.Fatalf("%v/%v: our own output %s is refused", format, ser, want)
					}
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%v/%v:\n got %s\nwant %s", format, ser, got, want)
				}
			}
		}
	})
}

// roundTrip encodes and decodes; false when Encode refuses (with a typed error).
func roundTrip(t *testing.T, c *Codec, in []byte, opt EncodeOptions) ([]byte, bool) {
	out, err := c.Encode(in, opt)
	if err != nil {
		if !errors.Is(err, ErrUnsupportedValue) && !errors.Is(err, ErrInvalidSession) {
			t.Fatalf("%v/%v: untyped error %v", opt.Format, opt.Serializer, err)
		}
		return nil, false
	}
	got, info, err := c.Decode(out)
	if err != nil {
		t.Fatalf("%v/%v: decode of our own output %q: %v", opt.Format, opt.Serializer, out, err)
	}
	if info.Format != opt.Format || info.Serializer != opt.Serializer {
		t.Fatalf("wrote %v/%v, read %v/%v", opt.Format, opt.Serializer, info.Format, info.Serializer)
	}
	return got, true
}

// canonical is what Decode must return for a session Encode accepted: the
// compact ensure_ascii form, tags as given.
func canonical(in []byte) ([]byte, error) {
	v, err := parseSession(in)
	if err != nil {
		return nil, err
	}
	return appendCompact(nil, &v), nil
}

// FuzzPickle: arbitrary bytes into the pickle reader never panic and never
// build more than the budget.
func FuzzPickle(f *testing.F) {
	for _, v := range loadVectors(f) {
		if v.Serializer == "pickle" && v.Expect == "ok" && v.Serialized != "" {
			if p, err := base64Std(v.Serialized); err == nil {
				f.Add(p)
			}
		}
	}
	f.Add([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eh\x02h\x02\x87u."))
	f.Fuzz(func(t *testing.T, p []byte) {
		js, err := decodePickleSession(p, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if len(js) > 1<<20+64 {
			t.Fatalf("output %d bytes over budget", len(js))
		}
		if _, err := Pretty(js); err != nil {
			t.Fatalf("Pretty(%s): %v", js, err)
		}
	})
}

// FuzzDecodeSigned signs arbitrary payload bytes (as a key holder could), so
// fuzzing reaches the deserializers through Decode: JSON in Django's dialect
// (Latin-1 bytes, NaN, duplicate keys) and pickles, plain and zlib-compressed.
func FuzzDecodeSigned(f *testing.F) {
	for _, v := range loadVectors(f) {
		if p, err := base64Std(v.Serialized); err == nil && v.Serialized != "" {
			f.Add(p, false)
		}
	}
	f.Add([]byte(`{"a":NaN,"a":"\xe9","$set":[1]}`), true)
	c := fuzzCodec(f)
	f.Fuzz(func(t *testing.T, payload []byte, compressed bool) {
		text := b64u(payload)
		if compressed {
			text = "." + b64u(zlibOf(payload))
		}
		js, info, err := c.Decode(signC(text))
		if err != nil {
			if js != nil || !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err %v (session %q)", err, js)
			}
			return
		}
		if info.KeyIndex != 2 {
			t.Fatalf("verified with key %d, signed with fallback 2", info.KeyIndex)
		}
		if _, err := Pretty(js); err != nil {
			t.Fatalf("Pretty(%s): %v", js, err)
		}
		opt := EncodeOptions{Serializer: SerializerJSON}
		if HasTagged(js) {
			opt.Serializer = SerializerPickle
		}
		out, err := c.Encode(js, opt)
		if errors.Is(err, ErrUnsupportedValue) && bytes.Contains(js, []byte(`"$object"`)) {
			return
		}
		if err != nil {
			t.Fatalf("Encode(%s): %v", js, err)
		}
		back, _, err := c.Decode(out)
		if err != nil || !bytes.Equal(back, js) {
			t.Fatalf("round trip: %v\n got %s\nwant %s", err, back, js)
		}
	})
}
