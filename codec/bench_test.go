package codec

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	kzlib "github.com/klauspost/compress/zlib"
)

// loginSession is a typical Django 3.2+ login session: ~200 bytes of JSON.
const loginSession = `{"_auth_user_id":"42","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"94b459550f5ddbf09d936306a27643cfe2f19cf78631d327d18cee13a5cb7b71","_language":"en"}`

// session64K is a 64 KiB session: a cart of many small entries and some text,
// the shape of a real large session (many members, not one big string).
func session64K() string {
	var b strings.Builder
	b.WriteString(`{"_auth_user_id":"42","cart":[`)
	for i := 0; b.Len() < 60<<10; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%06d","qty":%d,"price":%d.25,"name":"Item \u00e9 %d"}`, i, i%7+1, i%300, i)
	}
	b.WriteString(`],"note":"`)
	for b.Len() < 64<<10-2 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return b.String()
}

// benchInput returns the session_data to decode: a real Django 5.2 login
// session (zlib-compressed by CPython) for loginSession, else our encoding.
func benchInput(b *testing.B, js string) (*Codec, []byte) {
	if js == loginSession {
		for _, v := range loadVectors(b) {
			if v.Name == "5.2.18-login" {
				return v.codec(b), []byte(v.Encoded)
			}
		}
		b.Fatal("vector 5.2.18-login is missing")
	}
	c := mustNew(b, Config{SecretKey: []byte(testSecret)})
	data, err := c.Encode([]byte(js), EncodeOptions{Now: time.Unix(1700000000, 0)})
	if err != nil {
		b.Fatal(err)
	}
	return c, data
}

func benchDecode(b *testing.B, js string) {
	c, data := benchInput(b, js)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFloor is the cost no decoder can avoid: the HMAC check of the signed
// value and the base64 decoding of its payload; withInflate adds the zlib
// decompression a compressed payload needs before it can be read at all.
func benchFloor(b *testing.B, js string, withInflate bool) {
	c, data := benchInput(b, js)
	benchFloorOf(b, c, data, withInflate)
}

func benchFloorOf(b *testing.B, c *Codec, data []byte, withInflate bool) {
	key := sha256.Sum256([]byte(DefaultKeySalt + "signer" + string(c.cfg.SecretKey)))
	mac := hmac.New(sha256.New, key[:])
	i := bytes.LastIndexByte(data, ':')
	value, sig := data[:i], data[i+1:]
	payload := value[:bytes.IndexByte(value, ':')]
	compressed := payload[0] == '.'
	if !compressed && withInflate {
		b.Skip("payload is not compressed")
	}
	if compressed {
		payload = payload[1:]
	}
	buf := make([]byte, base64.RawURLEncoding.DecodedLen(len(payload)))
	var sum, enc [64]byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		mac.Reset()
		mac.Write(value)
		m := mac.Sum(sum[:0])
		base64.RawURLEncoding.Encode(enc[:43], m)
		if subtle.ConstantTimeCompare(enc[:43], sig) != 1 {
			b.Fatal("signature")
		}
		n, err := base64.RawURLEncoding.Decode(buf, payload)
		if err != nil {
			b.Fatal(err)
		}
		if withInflate {
			if _, err := inflate(buf[:n], DefaultMaxDecodedSize); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDecodeLogin(b *testing.B) { benchDecode(b, loginSession) }
func BenchmarkFloorLogin(b *testing.B)  { benchFloor(b, loginSession, false) }

func BenchmarkFloorLoginInflate(b *testing.B) { benchFloor(b, loginSession, true) }

// BenchmarkDecodeLoginUncompressed: the same login without its zlib layer
// (a session Django did not compress), against BenchmarkFloorLogin.
func BenchmarkDecodeLoginUncompressed(b *testing.B) {
	c := mustNew(b, Config{SecretKey: []byte(testSecret)})
	data := signC(b64u([]byte(loginSession)))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorLoginUncompressed is the floor of
// BenchmarkDecodeLoginUncompressed: its payload is longer than the
// compressed login's, so its HMAC and base64 cost more.
func BenchmarkFloorLoginUncompressed(b *testing.B) {
	c := mustNew(b, Config{SecretKey: []byte(testSecret)})
	benchFloorOf(b, c, signC(b64u([]byte(loginSession))), false)
}

func BenchmarkDecode64K(b *testing.B) { benchDecode(b, session64K()) }
func BenchmarkFloor64K(b *testing.B)  { benchFloor(b, session64K(), false) }

func BenchmarkFloor64KInflate(b *testing.B) { benchFloor(b, session64K(), true) }

// cartSession64K is the 64 KiB session of integration/bench: a login and a
// cart of items with random SKUs, prices as strings and notes of three
// words, all ASCII (the escapes and floats of session64K take the
// checker's slower paths).
func cartSession64K() string {
	r := rand.New(rand.NewPCG(1, 64))
	words := []string{"blue", "shirt", "cotton", "large", "gift", "wrap", "express", "coupon", "summer", "sale", "note", "red"}
	var b strings.Builder
	fmt.Fprintf(&b, `{"_auth_user_id":"%d","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"%016x%016x%016x%016x","cart":[`,
		r.IntN(1_000_000), r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
	for item := 0; b.Len() < 64<<10-100; item++ {
		if item > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"%08x","qty":%d,"price":"%d.%02d","note":"%s %s %s"}`, r.Uint32(), 1+r.IntN(9),
			r.IntN(500), r.IntN(100), words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))])
	}
	b.WriteString(`]}`)
	return b.String()
}

func BenchmarkDecodeCart64K(b *testing.B)       { benchDecode(b, cartSession64K()) }
func BenchmarkFloorCart64KInflate(b *testing.B) { benchFloor(b, cartSession64K(), true) }

func benchEncode(b *testing.B, js string, opt EncodeOptions) {
	c := mustNew(b, Config{SecretKey: []byte(testSecret)})
	in, err := Pretty([]byte(js))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(in, opt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeLogin(b *testing.B) { benchEncode(b, loginSession, EncodeOptions{}) }
func BenchmarkEncode64K(b *testing.B)   { benchEncode(b, session64K(), EncodeOptions{}) }
func BenchmarkEncodeLoginPickle(b *testing.B) {
	benchEncode(b, loginSession, EncodeOptions{Serializer: SerializerPickle})
}

func BenchmarkPretty64K(b *testing.B) {
	_, data := benchInput(b, session64K())
	c := mustNew(b, Config{SecretKey: []byte(testSecret)})
	js, _, err := c.Decode(data)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Pretty(js); err != nil {
			b.Fatal(err)
		}
	}
}

// zlibPayload returns the compressed payload of the session_data benchInput
// gives for js.
func zlibPayload(b *testing.B, js string) []byte {
	_, data := benchInput(b, js)
	value := data[:bytes.LastIndexByte(data, ':')]
	payload := value[:bytes.IndexByte(value, ':')]
	if payload[0] != '.' {
		b.Fatal("payload is not compressed")
	}
	z, err := base64.RawURLEncoding.DecodeString(string(payload[1:]))
	if err != nil {
		b.Fatal(err)
	}
	return z
}

// benchInflate times this build's inflater (Inflater names it).
func benchInflate(b *testing.B, js string) {
	z := zlibPayload(b, js)
	b.SetBytes(int64(len(z)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inflate(z, DefaultMaxDecodedSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInflateLogin(b *testing.B) { benchInflate(b, loginSession) }
func BenchmarkInflate64K(b *testing.B)   { benchInflate(b, session64K()) }

// benchInflateReader times a streaming zlib reader at its best: one reader,
// Reset on every payload, inflating into a reused buffer.
func benchInflateReader(b *testing.B, js string, newReader func(io.Reader) (io.ReadCloser, error)) {
	z := zlibPayload(b, js)
	src := bytes.NewReader(z)
	zr, err := newReader(src)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256<<10)
	b.SetBytes(int64(len(z)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(z)
		if err := zr.(interface {
			Reset(io.Reader, []byte) error
		}).Reset(src, nil); err != nil {
			b.Fatal(err)
		}
		out := bytes.NewBuffer(buf[:0])
		if _, err := out.ReadFrom(zr); err != nil {
			b.Fatal(err)
		}
	}
}

func stdZlib(r io.Reader) (io.ReadCloser, error) { return zlib.NewReader(r) }
func kpZlib(r io.Reader) (io.ReadCloser, error)  { return kzlib.NewReader(r) }

func BenchmarkInflateStdlibLogin(b *testing.B)    { benchInflateReader(b, loginSession, stdZlib) }
func BenchmarkInflateStdlib64K(b *testing.B)      { benchInflateReader(b, session64K(), stdZlib) }
func BenchmarkInflateKlauspostLogin(b *testing.B) { benchInflateReader(b, loginSession, kpZlib) }
func BenchmarkInflateKlauspost64K(b *testing.B)   { benchInflateReader(b, session64K(), kpZlib) }

// BenchmarkJSON64K is the JSON half of BenchmarkDecode64K: validating
// (and, were it not canonical, rewriting) 64 KiB of Django's JSON.
func BenchmarkJSON64K(b *testing.B) { benchJSON(b, session64K()) }

// BenchmarkJSONCart64K is the JSON half of BenchmarkDecodeCart64K.
func BenchmarkJSONCart64K(b *testing.B) { benchJSON(b, cartSession64K()) }

// BenchmarkJSONValidCart64K is encoding/json's plain validity scan of the
// same bytes, for scale.
func BenchmarkJSONValidCart64K(b *testing.B) {
	js := []byte(cartSession64K())
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		if !json.Valid(js) {
			b.Fatal("invalid")
		}
	}
}

func benchJSON(b *testing.B, session string) {
	js := []byte(session)
	if !isCanonical(js) {
		b.Fatal("not in canonical form")
	}
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeJSONSession(js); err != nil {
			b.Fatal(err)
		}
	}
}
