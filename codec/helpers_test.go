package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// vector is one entry of testdata/vectors/django-*.json (copied from
// ../shared/vectors: sessions written by ten real Django releases).
type vector struct {
	Name         string          `json:"name"`
	Format       string          `json:"format"`
	SecretKey    string          `json:"secret_key"`
	FallbackKeys []string        `json:"fallback_keys"`
	Serializer   string          `json:"serializer"`
	Algorithm    *string         `json:"algorithm"`
	Timestamp    int64           `json:"timestamp"`
	Compressed   *bool           `json:"compressed"`
	Encoded      string          `json:"encoded"`
	Expect       string          `json:"expect"`
	Decoded      json.RawMessage `json:"decoded"`
	DecodedRepr  string          `json:"decoded_repr"`
	Serialized   string          `json:"serialized_b64"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob("testdata/vectors/django-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files: %v", err)
	}
	var all []vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(data, &vs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, vs...)
	}
	return all
}

func (v vector) codec(t testing.TB) *Codec {
	t.Helper()
	cfg := Config{SecretKey: []byte(v.SecretKey)}
	for _, k := range v.FallbackKeys {
		cfg.FallbackKeys = append(cfg.FallbackKeys, []byte(k))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jsonTokens flattens JSON text into its token sequence (numbers as text),
// using encoding/json rather than our parser: two texts with equal token
// sequences hold equal values with members in the same order.
func jsonTokens(t testing.TB, data []byte) []any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var toks []any
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return toks
		}
		if err != nil {
			t.Fatalf("tokenizing %s: %v", data, err)
		}
		if d, ok := tok.(json.Delim); ok {
			tok = string(d)
		}
		toks = append(toks, tok)
	}
}

func sameJSON(t testing.TB, got, want []byte) bool {
	t.Helper()
	a, b := jsonTokens(t, got), jsonTokens(t, want)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustNew(t testing.TB, cfg Config) *Codec {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sameValue compares JSON values with encoding/json, ignoring member order
// (the vector files list "decoded" with sorted keys; the order Django stored
// is checked against serialized_b64 instead).
func sameValue(t testing.TB, got, want []byte) bool {
	t.Helper()
	var a, b any
	for _, x := range []struct {
		data []byte
		v    *any
	}{{got, &a}, {want, &b}} {
		dec := json.NewDecoder(bytes.NewReader(x.data))
		dec.UseNumber()
		if err := dec.Decode(x.v); err != nil {
			t.Fatalf("parsing %s: %v", x.data, err)
		}
	}
	return reflect.DeepEqual(a, b)
}

// payloadOf returns the serialized bytes inside an uncompressed format-C string.
func payloadOf(sessionData []byte) ([]byte, error) {
	s := string(sessionData)
	i := strings.IndexByte(s, ':')
	return base64.RawURLEncoding.DecodeString(s[:i])
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
