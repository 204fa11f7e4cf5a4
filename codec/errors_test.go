package codec

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

const testSecret = "test-secret-key"

// signC builds a format-C string around an arbitrary payload text, signed with
// testSecret: how a key holder (or a bug) could produce validly signed junk.
func signC(payload string) []byte {
	k := sha256.Sum256([]byte(DefaultKeySalt + "signer" + testSecret))
	value := payload + ":1r31eq"
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(value))
	return []byte(value + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func zlibOf(b []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

func TestDecodeErrors(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret), MaxDecodedSize: 1 << 20})
	good, err := c.Encode([]byte(`{"a":1}`), EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrUnknownFormat},
		{"newline only", []byte("\n"), ErrUnknownFormat},
		{"non-ASCII byte", []byte("abc\xff:def"), ErrUnknownFormat},
		{"wrong key", mustEncode(t, mustNew(t, Config{SecretKey: []byte("other")}), `{"a":1}`), ErrBadSignature},
		{"flipped signature char", append(good[:len(good)-1:len(good)-1], good[len(good)-1]^1), ErrBadSignature},
		{"garbage", []byte("!!!"), ErrBadSignature},
		{"bad base64 payload", signC("e30*"), ErrCorruptBase64},
		{"bad zlib", signC("." + b64u([]byte("not zlib at all"))), ErrCorruptZlib},
		{"truncated zlib", signC("." + b64u(zlibOf([]byte(`{"a":1}`))[:6])), ErrCorruptZlib},
		{"bad JSON", signC(b64u([]byte(`{"a":`))), ErrCorruptJSON},
		{"JSON list", signC(b64u([]byte(`[1,2]`))), ErrNotObject},
		{"JSON string", signC(b64u([]byte(`"x"`))), ErrNotObject},
		{"bad pickle", signC(b64u([]byte("\x80\x02}q\x00(X"))), ErrCorruptPickle},
		{"pickle of a set of bytes (protocol 4)", signC(b64u([]byte("\x80\x04}\x94\x8c\x01s\x94\x8f\x94(C\x01x\x94\x90s."))), ErrCorruptPickle},
		{"pickled list", signC(b64u([]byte("\x80\x02]q\x00."))), ErrNotObject},
		{"pickle calling os.system", signC(b64u([]byte("\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."))), ErrNotObject},
		{"huge declared pickle length", signC(b64u([]byte("\x80\x02}X\xff\xff\xff\x7fabc"))), ErrCorruptPickle},
		{"too large input", bytes.Repeat([]byte("A"), 2<<20), ErrTooLarge},
		{"too large after inflate", signC("." + b64u(zlibOf(bytes.Repeat([]byte(" "), 2<<20)))), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _, err := c.Decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if js != nil {
				t.Fatalf("failure returned a session: %s", js)
			}
		})
	}
}

func TestBadTimestamp(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	k := sha256.Sum256([]byte(DefaultKeySalt + "signer" + testSecret))
	value := "e30:1r3!eq"
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(value))
	_, _, err := c.Decode([]byte(value + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

func mustEncode(t testing.TB, c *Codec, js string) []byte {
	t.Helper()
	out, err := c.Encode([]byte(js), EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEncodeErrors(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	pickle := EncodeOptions{Serializer: SerializerPickle}
	for _, tc := range []struct {
		name string
		in   string
		opt  EncodeOptions
		want error
		msg  string
	}{
		{"not JSON", `{"a":}`, EncodeOptions{}, ErrInvalidSession, "line 1 column 6"},
		{"list", `[1]`, EncodeOptions{}, ErrInvalidSession, "got array"},
		{"duplicate key", "{\n \"a\": 1,\n \"a\": 2}", EncodeOptions{}, ErrInvalidSession, `line 3 column 2: duplicate key "a"`},
		{"nested duplicate", `{"x":{"b":1,"b":2}}`, EncodeOptions{}, ErrInvalidSession, `duplicate key "b"`},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", EncodeOptions{}, ErrInvalidSession, "UTF-8"},
		{"NaN", `{"a":NaN}`, EncodeOptions{}, ErrInvalidSession, "NaN"},
		{"too deep", `{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, EncodeOptions{}, ErrInvalidSession, "deeper"},
		{"trailing data", `{} {}`, EncodeOptions{}, ErrInvalidSession, "after"},
		{"overflowing float", `{"a":1e400}`, EncodeOptions{}, ErrInvalidSession, "out of range"},
		{"set as JSON", `{"s":{"$set":[1]}}`, EncodeOptions{}, ErrUnsupportedValue, "/s"},
		{"opaque object", `{"o":{"$object":"app.Thing"}}`, pickle, ErrUnsupportedValue, "app.Thing"},
		{"md5 with JSON", `{}`, EncodeOptions{Format: FormatMD5}, ErrUnsupportedValue, "pickle"},
		{"list as set member", `{"s":{"$set":[[1]]}}`, pickle, ErrUnsupportedValue, "/s/$set/0"},
		{"bad datetime", `{"d":{"$datetime":"2024-02-30T00:00:00"}}`, pickle, ErrUnsupportedValue, "not a valid date"},
		{"bad bytes", `{"b":{"$bytes":"!!"}}`, pickle, ErrUnsupportedValue, "base64"},
		{"bad decimal", `{"d":{"$decimal":"1.2.3"}}`, pickle, ErrUnsupportedValue, "Decimal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.Encode([]byte(tc.in), tc.opt)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
			if out != nil {
				t.Fatalf("failure returned output %q", out)
			}
		})
	}
}

func TestNewRequiresKey(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a secret key succeeded")
	}
}

// TestZlibBomb: 1 GiB of zeros compresses to ~1 MiB; correctly signed, it
// must fail with ErrTooLarge without inflating more than the limit.
func TestZlibBomb(t *testing.T) {
	// 128 MiB of zeros compress to about 128 KiB; with a 1 MiB limit the
	// decoder must stop early instead of inflating it all.
	const bombSize, limit = 128 << 20, 1 << 20
	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	chunk := make([]byte, 1<<20)
	for range bombSize >> 20 {
		w.Write(chunk)
	}
	w.Close()
	bomb := signC("." + b64u(z.Bytes()))
	c := mustNew(t, Config{SecretKey: []byte(testSecret), MaxDecodedSize: limit})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, _, err := c.Decode(bomb)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*limit {
		t.Errorf("decoding the bomb allocated %d MiB", alloc>>20)
	}
	t.Logf("bomb of %d bytes rejected in %v", len(bomb), time.Since(start))
}

// TestDefaultDecodedLimit: without a configured limit a payload just over
// 16 MiB is refused, one just under it decodes.
func TestDefaultDecodedLimit(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	session := func(n int) []byte {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		fmt.Fprintf(w, `{"pad":"%s"}`, strings.Repeat("x", n))
		w.Close()
		return signC("." + b64u(z.Bytes()))
	}
	if _, _, err := c.Decode(session(DefaultMaxDecodedSize - 64)); err != nil {
		t.Errorf("a session under the default limit: %v", err)
	}
	if _, _, err := c.Decode(session(DefaultMaxDecodedSize)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a session over the default limit: err = %v, want ErrTooLarge", err)
	}
}

// TestIntegerDigitsPythonReads: Python 3.11+ reads integers of at most 4300
// digits; a longer one would make every Django worker fail on the session.
func TestIntegerDigitsPythonReads(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	if _, err := c.Encode([]byte(`{"n": -`+strings.Repeat("9", 4300)+`}`), EncodeOptions{}); err != nil {
		t.Errorf("4300 digits: %v", err)
	}
	_, err := c.Encode([]byte(`{"n": `+strings.Repeat("9", 4301)+`}`), EncodeOptions{})
	if !errors.Is(err, ErrInvalidSession) || !strings.Contains(err.Error(), "4301 digits") {
		t.Errorf("4301 digits: err = %v, want ErrInvalidSession naming the length", err)
	}
}

// TestPickleMemoBomb: 40 nested lists, each holding the previous one twice
// through the memo, describe 2^40 nodes in a few hundred bytes. The decoder
// must stop within a small multiple of its limit.
func TestPickleMemoBomb(t *testing.T) {
	const limit = 1 << 20
	p := []byte("\x80\x02]q\x00")
	for i := 1; i <= 40; i++ {
		p = append(p, '(', 'h', byte(i-1), 'h', byte(i-1), 'l', 'q', byte(i))
	}
	p = append(p, "}X\x01\x00\x00\x00ah\x28s."...)
	c := mustNew(t, Config{SecretKey: []byte(testSecret), MaxDecodedSize: limit})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := c.Decode(signC(b64u(p)))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*limit {
		t.Errorf("decoding the memo bomb allocated %d MiB with a %d MiB limit", alloc>>20, limit>>20)
	}
}
