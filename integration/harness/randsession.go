package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
)

// RandomSessions returns n random sessions as JSON object text, plus the
// fixed edge cases every interop run needs: the empty session, a Django
// login, a ~100 KiB compressible session, deep nesting and integers beyond
// 64 bits. Members are in the order a Python dict would keep them.
func RandomSessions(r *rand.Rand, n int) []json.RawMessage {
	out := []json.RawMessage{
		json.RawMessage(`{}`),
		LoginSession(r),
		obj(member{"blob", strings.Repeat("compressible session value "+word(r)+" ", 100<<10/32)}, member{"n", 1}),
		obj(member{"big", bigInt(r, 70)}, member{"neg", new(big.Int).Neg(bigInt(r, 100))}, member{"max64", new(big.Int).Lsh(big.NewInt(1), 64)}),
		obj(member{"deep", nested(r, 12)}),
		obj(member{"astral 😀", "𝄞 \U0010FFFF \u2028 \ufeff é\x00\x1f\"\\/<>&\x7f"}, member{"", ""}),
	}
	for len(out) < n+6 {
		out = append(out, randomObject(r, 0))
	}
	return out
}

// LoginSession is what contrib.auth stores at login (Django 3.2+ shape).
func LoginSession(r *rand.Rand) json.RawMessage {
	return obj(
		member{"_auth_user_id", fmt.Sprint(r.IntN(1_000_000))},
		member{"_auth_user_backend", "django.contrib.auth.backends.ModelBackend"},
		member{"_auth_user_hash", fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())},
	)
}

// obj renders members, in order, as a JSON object.
func obj(ms ...member) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(m.key))
		b.WriteByte(':')
		b.Write(mustJSON(m.val))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func mustJSON(v any) []byte {
	if raw, ok := v.(json.RawMessage); ok {
		return raw
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own generated values get here
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func randomObject(r *rand.Rand, depth int) json.RawMessage {
	n := r.IntN(8)
	if depth == 0 {
		n++ // sessions have at least one member here; {} is a fixed case
	}
	seen := map[string]bool{}
	var ms []member
	for len(ms) < n {
		k := randomKey(r)
		if seen[k] {
			continue // a Python dict has each key once
		}
		seen[k] = true
		ms = append(ms, member{k, randomValue(r, depth+1)})
	}
	return obj(ms...)
}

var wellKnownKeys = []string{"_auth_user_id", "_auth_user_backend", "_auth_user_hash", "_session_expiry", "_messages", "_language", "testcookie", "_csrftoken"}

func randomKey(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return wellKnownKeys[r.IntN(len(wellKnownKeys))]
	}
	return randomString(r, 1+r.IntN(12))
}

func randomValue(r *rand.Rand, depth int) any {
	kinds := 10
	if depth > 4 {
		kinds = 7 // no containers below this depth
	}
	switch r.IntN(kinds) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.Int64N(1<<53) - 1<<52
	case 3:
		return bigInt(r, 64+r.IntN(200))
	case 4:
		return json.Number(randomFloat(r))
	case 5, 6:
		return randomString(r, r.IntN(40))
	case 7:
		return randomObject(r, depth)
	default:
		arr := make([]json.RawMessage, r.IntN(6))
		for i := range arr {
			arr[i] = mustJSON(randomValue(r, depth+1))
		}
		return arr
	}
}

// randomFloat: values whose Python repr differs from the obvious text.
func randomFloat(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return "1e+100"
	case 1:
		return "2.5"
	case 2:
		return "-0.1"
	}
	return fmt.Sprint(r.NormFloat64() * 1e6)
}

func bigInt(r *rand.Rand, bits int) *big.Int {
	v := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	return v.Add(v, new(big.Int).SetUint64(r.Uint64()))
}

func nested(r *rand.Rand, depth int) json.RawMessage {
	if depth == 0 {
		return mustJSON(randomString(r, 5))
	}
	if depth%2 == 0 {
		return obj(member{"d" + fmt.Sprint(depth), nested(r, depth-1)})
	}
	return mustJSON([]json.RawMessage{nested(r, depth-1), mustJSON(depth)})
}

// Rune pools: ASCII, control characters, Latin-1, other BMP, astral. No lone
// surrogates: Python can hold them, UTF-8 and Go strings cannot.
var runePools = [][]rune{
	[]rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/\"\\'<>&{}[]"),
	{0, 1, '\b', '\t', '\n', '\f', '\r', 0x1b, 0x1f, 0x7f},
	[]rune("éüßÿ×÷¡¿"),
	[]rune("中文日本語€ℤ\u2028\u2029\ufeff\ufffd"),
	[]rune("😀𝄞🂡𐍈\U0010FFFF"),
}

func randomString(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		pool := runePools[0]
		if r.IntN(3) == 0 {
			pool = runePools[r.IntN(len(runePools))]
		}
		b.WriteRune(pool[r.IntN(len(pool))])
	}
	return b.String()
}

func word(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 8)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// RandomSecret is a SECRET_KEY of Django's usual 50 characters; with
// unicode true it also holds non-ASCII characters (Django UTF-8-encodes them).
func RandomSecret(r *rand.Rand, unicode bool) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)"
	var b strings.Builder
	for range 50 {
		b.WriteByte(chars[r.IntN(len(chars))])
	}
	if unicode {
		b.WriteString("ключ😀")
	}
	return b.String()
}
