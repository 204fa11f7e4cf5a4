package codec

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Encode turns JSON object text (any whitespace) into session_data. With the
// JSON serializer the serialized bytes are exactly Python's
// json.dumps(obj, separators=(",", ":")) for the same dict: stored key order,
// ensure_ascii escapes, integers as given, floats in Python repr.
func (c *Codec) Encode(sessionJSON []byte, opt EncodeOptions) ([]byte, error) {
	if opt.Format == 0 {
		opt.Format = FormatSigned
	}
	if opt.Serializer == 0 {
		opt.Serializer = SerializerJSON
	}
	if opt.Algorithm == 0 {
		opt.Algorithm = c.cfg.Algorithm
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Format == FormatMD5 && opt.Serializer != SerializerPickle {
		return nil, fmt.Errorf("%w: format md5 (Django 1.0-1.2) always pickles; use the pickle serializer", ErrUnsupportedValue)
	}
	v, err := parseSession(sessionJSON)
	if err != nil {
		return nil, err
	}
	var data []byte
	switch opt.Serializer {
	case SerializerJSON:
		data, err = serializeJSON(&v, len(sessionJSON))
	case SerializerPickle:
		data, err = serializePickle(&v)
	default:
		return nil, fmt.Errorf("%w: unknown serializer %v", ErrUnsupportedValue, opt.Serializer)
	}
	if err != nil {
		return nil, err
	}
	switch opt.Format {
	case FormatSigned:
		return c.encodeSigned(data, opt), nil
	case FormatLegacy:
		return c.encodeLegacy(data), nil
	case FormatMD5:
		return c.encodeMD5(data), nil
	}
	return nil, fmt.Errorf("%w: unknown format %v", ErrUnsupportedValue, opt.Format)
}

// parseSession reads Encode's input: strict JSON whose top level is an object.
func parseSession(sessionJSON []byte) (node, error) {
	v, err := parseJSON(sessionJSON, false)
	if err != nil {
		return node{}, err
	}
	if v.kind != kObj {
		return node{}, fmt.Errorf("%w: a session must be a JSON object, got %s", ErrInvalidSession, kindName(v.kind))
	}
	return v, nil
}

// serializeJSON is Django's JSONSerializer.dumps. Tags have no JSON meaning:
// only escaped dicts with string keys and special floats translate.
// sizeHint is the length of the JSON v was parsed from: the compact form of
// ASCII input is no longer, so one allocation usually holds it, where
// growing by appending would allocate several times the output in all.
func serializeJSON(v *node, sizeHint int) ([]byte, error) {
	plain, err := untagForJSON(v, "")
	if err != nil {
		return nil, err
	}
	return appendCompact(make([]byte, 0, sizeHint), &plain), nil
}

func untagForJSON(v *node, path string) (node, error) {
	switch v.kind {
	case kArr:
		out := node{kind: kArr, items: make([]node, len(v.items))}
		for i := range v.items {
			var err error
			if out.items[i], err = untagForJSON(&v.items[i], fmt.Sprintf("%s/%d", path, i)); err != nil {
				return node{}, err
			}
		}
		return out, nil
	case kObj:
		if tag, val, ok := asTag(v); ok {
			switch tag {
			case tagFloat:
				if lit, ok := pyFloatLiterals[val.text]; ok && val.kind == kStr {
					return node{kind: kRaw, text: lit}, nil
				}
			case tagDict:
				keys, vals, err := dictPairs(val, path)
				if err != nil {
					return node{}, err
				}
				out := node{kind: kObj, keys: keys, items: make([]node, len(vals))}
				for i := range vals {
					if out.items[i], err = untagForJSON(&vals[i], path+"/"+keys[i]); err != nil {
						return node{}, err
					}
				}
				return out, nil
			}
			return node{}, fmt.Errorf("%w: %s at %s has no JSON form (write it with the pickle serializer, or replace it)", ErrUnsupportedValue, tag, pathOrRoot(path))
		}
		out := node{kind: kObj, keys: v.keys, items: make([]node, len(v.items))}
		for i := range v.items {
			var err error
			if out.items[i], err = untagForJSON(&v.items[i], path+"/"+v.keys[i]); err != nil {
				return node{}, err
			}
		}
		return out, nil
	}
	return *v, nil
}

var pyFloatLiterals = map[string]string{"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

// asTag returns the tag name and value of a tagged object. $object tags are
// reported with the whole object as value.
func asTag(v *node) (string, *node, bool) {
	if v.kind != kObj || !isTagShaped(v.keys) {
		return "", nil, false
	}
	if v.keys[0] == tagObject {
		return tagObject, v, true
	}
	return v.keys[0], &v.items[0], true
}

// dictPairs reads the value of a $dict tag whose keys are all strings.
func dictPairs(val *node, path string) ([]string, []node, error) {
	if val.kind != kArr {
		return nil, nil, fmt.Errorf("%w: $dict at %s must hold a list of [key, value] pairs", ErrInvalidSession, pathOrRoot(path))
	}
	keys := make([]string, 0, len(val.items))
	vals := make([]node, 0, len(val.items))
	seen := make(map[string]bool, len(val.items))
	for _, pair := range val.items {
		if pair.kind != kArr || len(pair.items) != 2 {
			return nil, nil, fmt.Errorf("%w: $dict at %s must hold [key, value] pairs", ErrInvalidSession, pathOrRoot(path))
		}
		if pair.items[0].kind != kStr {
			return nil, nil, fmt.Errorf("%w: $dict at %s has a non-string key, which JSON cannot hold", ErrUnsupportedValue, pathOrRoot(path))
		}
		k := pair.items[0].text
		if seen[k] {
			return nil, nil, fmt.Errorf("%w: $dict at %s has the key %q twice", ErrInvalidSession, pathOrRoot(path), k)
		}
		seen[k] = true
		keys = append(keys, k)
		vals = append(vals, pair.items[1])
	}
	return keys, vals, nil
}

func pathOrRoot(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// encodeSigned is signing.dumps(compress=True) with a TimestampSigner.
func (c *Codec) encodeSigned(data []byte, opt EncodeOptions) []byte {
	z := compress(data)
	compressed := len(z) < len(data)-1 // Django compresses only when it saves more than one byte
	payload := data
	if compressed {
		payload = z
	}
	// Sized for the payload written: a compressible session's output is a
	// fraction of its serialized size.
	out := make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(payload))+64)
	if compressed {
		out = append(out, '.')
	}
	out = base64.RawURLEncoding.AppendEncode(out, payload)
	out = append(out, ':')
	out = appendBase62(out, opt.Now.Unix())
	var macBuf [32]byte
	mac := c.secrets[0].signerFor(opt.Algorithm).sum(macBuf[:0], out)
	out = append(out, ':')
	return base64.RawURLEncoding.AppendEncode(out, mac)
}

// encodeLegacy is Django 1.5–3.0's format B: b64std(hexHMAC ":" data), one line.
func (c *Codec) encodeLegacy(data []byte) []byte {
	var macBuf [20]byte
	mac := c.secrets[0].legacy.sum(macBuf[:0], data)
	raw := make([]byte, 0, 41+len(data))
	raw = hex.AppendEncode(raw, mac)
	raw = append(raw, ':')
	raw = append(raw, data...)
	return base64.StdEncoding.AppendEncode(nil, raw)
}

// encodeMD5 is Django 1.0–1.2's format A: wrapped b64(pickle || md5hex(pickle || secret)).
func (c *Codec) encodeMD5(p []byte) []byte {
	h := md5.New()
	h.Write(p)
	h.Write(c.secrets[0].secret)
	raw := hex.AppendEncode(append([]byte(nil), p...), h.Sum(nil))
	return appendWrappedBase64(nil, raw)
}

// deflaters pools zlib writers: each holds about a megabyte of compressor state.
var deflaters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, 6) // CPython's default level; valid, so no error
	return w
}}

// compress is zlib.compress(data) at level 6 (the bytes differ from
// CPython's zlib, the stream is equally valid).
func compress(data []byte) []byte {
	var z bytes.Buffer
	z.Grow(len(data)/2 + 64)
	w := deflaters.Get().(*zlib.Writer)
	w.Reset(&z)
	w.Write(data) // a bytes.Buffer never fails
	w.Close()
	deflaters.Put(w)
	return z.Bytes()
}
