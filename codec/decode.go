package codec

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Decode verifies and decodes one session_data value (a file's content;
// line-wrapped base64 and a trailing newline are allowed). It returns the
// session as compact JSON object text, members in stored order, in Python's
// ensure_ascii form (pure ASCII, non-ASCII as \uXXXX escapes): for a JSON
// session written by Python that is exactly the serialized bytes. Pretty turns
// the escapes into UTF-8 for display.
//
// Order of attempts (spec section 9): format C with every key and both
// signature hashes, then B, then A. Every signature is checked before any
// byte of the payload is deserialized.
func (c *Codec) Decode(data []byte) ([]byte, Info, error) {
	if int64(len(data)) > c.cfg.MaxDecodedSize/3*4+1024 {
		return nil, Info{}, fmt.Errorf("%w: %d bytes of session data", ErrTooLarge, len(data))
	}
	trimmed := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	if len(trimmed) == 0 {
		return nil, Info{}, fmt.Errorf("%w: empty session data", ErrUnknownFormat)
	}
	if i := firstNonSessionByte(trimmed); i >= 0 {
		return nil, Info{}, fmt.Errorf("%w: byte %#02x is not in any Django session format", ErrUnknownFormat, trimmed[i])
	}
	if i := bytes.LastIndexByte(trimmed, ':'); i >= 0 {
		if info, ok := c.verifySigned(trimmed[:i], trimmed[i+1:]); ok {
			js, err := c.decodeSigned(trimmed[:i], &info)
			return js, info, err
		}
	}
	blob, err := lenientStdBase64(data, c.cfg.MaxDecodedSize)
	if err != nil {
		if errorsIsTooLarge(err) {
			return nil, Info{}, err
		}
		return nil, Info{}, fmt.Errorf("%w: no format verified (not base64 either: %v)", ErrBadSignature, err)
	}
	wrapped := bytes.IndexByte(data, '\n') >= 0 // encodestring ends every line, even a single one, with \n
	if s, ok := c.verifyLegacy(blob); ok {
		info := Info{Format: FormatLegacy, Wrapped: wrapped, Algorithm: SHA1}
		js, err := c.deserialize(s, &info)
		return js, info, err
	}
	if p, ok := c.verifyMD5(blob); ok {
		info := Info{Format: FormatMD5, Wrapped: wrapped, Serializer: SerializerPickle}
		js, err := decodePickleSession(p, c.outputBudget())
		return js, info, err
	}
	return nil, Info{}, fmt.Errorf("%w: no key verifies it in format C, B or A", ErrBadSignature)
}

// verifySigned checks a format-C signature: the base64 text is compared (spec
// 9.2), with the current key then each fallback. The signature length tells
// the hash: 43 characters for SHA-256, 27 for SHA-1.
func (c *Codec) verifySigned(value, sig []byte) (Info, bool) {
	var alg Algorithm
	switch len(sig) {
	case 43:
		alg = SHA256
	case 27:
		alg = SHA1
	default:
		return Info{}, false
	}
	var macBuf [32]byte
	var b64Buf [43]byte
	for i, k := range c.secrets {
		mac := k.signerFor(alg).sum(macBuf[:0], value)
		want := b64Buf[:base64.RawURLEncoding.EncodedLen(len(mac))]
		base64.RawURLEncoding.Encode(want, mac)
		if subtle.ConstantTimeCompare(want, sig) == 1 {
			return Info{Format: FormatSigned, Algorithm: alg, KeyIndex: i}, true
		}
	}
	return Info{}, false
}

// decodeSigned unpacks a verified "payload:timestamp" value.
func (c *Codec) decodeSigned(value []byte, info *Info) ([]byte, error) {
	raw, err := c.payloadBytes(value, info)
	if err != nil {
		return nil, err
	}
	return c.deserialize(raw, info)
}

// payloadBytes returns the serialized bytes of a verified format-C value,
// filling Timestamp and Compressed.
func (c *Codec) payloadBytes(value []byte, info *Info) ([]byte, error) {
	i := bytes.LastIndexByte(value, ':')
	if i < 0 {
		return nil, fmt.Errorf("%w: signed value has no timestamp", ErrCorruptBase64)
	}
	ts, err := parseBase62(value[i+1:])
	if err != nil {
		return nil, err
	}
	info.Timestamp = time.Unix(ts, 0).UTC()
	payload := value[:i]
	if len(payload) > 0 && payload[0] == '.' {
		info.Compressed = true
		payload = payload[1:]
	}
	// Django re-pads and decodes leniently; a valid signature means a Django
	// (or a key holder) wrote it, and Django only writes unpadded URL-safe.
	payload = bytes.TrimRight(payload, "=")
	if int64(base64.RawURLEncoding.DecodedLen(len(payload))) > c.cfg.MaxDecodedSize {
		return nil, fmt.Errorf("%w: payload over %d bytes", ErrTooLarge, c.cfg.MaxDecodedSize)
	}
	need := base64.RawURLEncoding.DecodedLen(len(payload))
	if !info.Compressed {
		raw := make([]byte, need)
		n, err := base64.RawURLEncoding.Decode(raw, payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptBase64, err)
		}
		return raw[:n], nil
	}
	// The compressed bytes live only until they are inflated: a pooled buffer.
	buf, _ := zlibInputs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer func() {
		if cap(*buf) > scratchKeep {
			*buf = nil
		}
		zlibInputs.Put(buf)
	}()
	if cap(*buf) < need {
		*buf = make([]byte, need)
	}
	n, err := base64.RawURLEncoding.Decode((*buf)[:need], payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptBase64, err)
	}
	return inflate((*buf)[:n], c.cfg.MaxDecodedSize)
}

// zlibInputs pools the buffers compressed payloads are base64-decoded into.
var zlibInputs sync.Pool

// deserialize picks the serializer from the data: a pickle (protocol 2+)
// starts with the PROTO opcode 0x80, which JSON text never does.
func (c *Codec) deserialize(data []byte, info *Info) ([]byte, error) {
	if len(data) > 0 && data[0] == 0x80 {
		info.Serializer = SerializerPickle
		return decodePickleSession(data, c.outputBudget())
	}
	info.Serializer = SerializerJSON
	return decodeJSONSession(data)
}

// verifyLegacy checks format B: hex HMAC-SHA1 ":" serialized, current key
// only (Django never applied SECRET_KEY_FALLBACKS to format B).
func (c *Codec) verifyLegacy(blob []byte) ([]byte, bool) {
	i := bytes.IndexByte(blob, ':')
	if i != 40 {
		return nil, false
	}
	var macBuf [20]byte
	var hexBuf [40]byte
	mac := c.secrets[0].legacy.sum(macBuf[:0], blob[i+1:])
	hex.Encode(hexBuf[:], mac)
	if subtle.ConstantTimeCompare(hexBuf[:], blob[:i]) != 1 {
		return nil, false
	}
	return blob[i+1:], true
}

// verifyMD5 checks format A: pickle || hex(MD5(pickle || secret)).
func (c *Codec) verifyMD5(blob []byte) ([]byte, bool) {
	if len(blob) < 33 {
		return nil, false
	}
	p, check := blob[:len(blob)-32], blob[len(blob)-32:]
	h := md5.New()
	h.Write(p)
	h.Write(c.secrets[0].secret)
	var hexBuf [32]byte
	hex.Encode(hexBuf[:], h.Sum(nil))
	if subtle.ConstantTimeCompare(hexBuf[:], check) != 1 {
		return nil, false
	}
	return p, true
}

// decodeJSONSession parses what Django's JSONSerializer wrote and returns the
// canonical compact form, escaping dicts that look like tags. data belongs to
// the decoder (every caller made it, by base64 decoding or inflating), so
// canonical text is returned as it is, not copied.
func decodeJSONSession(data []byte) ([]byte, error) {
	if isCanonical(data) {
		return data, nil
	}
	v, err := parseJSON(data, true)
	if err != nil {
		return nil, err
	}
	if v.kind != kObj {
		return nil, fmt.Errorf("%w: the serialized value is a JSON %s", ErrNotObject, kindName(v.kind))
	}
	return appendCompact(make([]byte, 0, len(data)+len(data)/8), &v), nil
}

func kindName(k kind) string {
	switch k {
	case kNull:
		return "null"
	case kFalse, kTrue:
		return "boolean"
	case kNum:
		return "number"
	case kStr:
		return "string"
	case kArr:
		return "array"
	}
	return "object"
}

// outputBudget bounds the JSON built from a pickle: memo references let a
// small pickle describe a huge tree.
func (c *Codec) outputBudget() int64 { return 2*c.cfg.MaxDecodedSize + 4096 }

// sessionDataByte marks what a session_data string may contain: printable
// ASCII and the newlines of wrapped base64 (Django 2.2+ even reads the file
// as ASCII).
var sessionDataByte = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = true
	}
	t['\n'], t['\r'] = true, true
	return t
}()

// firstNonSessionByte returns the index of the first byte that is not a
// sessionDataByte, or -1. It tests eight bytes at a time for "all printable
// ASCII" (no byte below 0x20, at or above 0x7f), the case of every real
// session file, and looks at single bytes only in words that fail.
func firstNonSessionByte(data []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(data); i += 8 {
		w := binary.LittleEndian.Uint64(data[i:])
		below20 := (w - 0x20*ones) &^ w & highs
		from7f := (w + 0x01*ones) | w // high bit set: byte >= 0x7f (0x7f+1 carries into it)
		if (below20|from7f)&highs != 0 {
			break
		}
	}
	for ; i < len(data); i++ {
		if !sessionDataByte[data[i]] {
			return i
		}
	}
	return -1
}
