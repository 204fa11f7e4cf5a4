package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// loginSession is what contrib.auth's login() stores plus a language, ~200
// bytes: the session most sites hold most of.
func loginSession(r *rand.Rand) json.RawMessage {
	login := harness.LoginSession(r)
	return append(login[:len(login)-1:len(login)-1], `,"_language":"en-us"}`...)
}

func loginSessions(r *rand.Rand, n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = loginSession(r)
	}
	return out
}

var words = []string{"blue", "shirt", "cotton", "large", "gift", "wrap", "express", "coupon", "summer", "sale", "note", "red"}

// largeSessions: a login plus a shopping cart of size bytes of JSON: the
// kind of big session a site really grows (repetitive, so zlib shrinks it).
func largeSessions(r *rand.Rand, n, size int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		var b bytes.Buffer
		login := harness.LoginSession(r)
		b.Write(login[:len(login)-1])
		b.WriteString(`,"cart":[`)
		for item := 0; b.Len() < size-100; item++ {
			if item > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"sku":"%08x","qty":%d,"price":"%d.%02d","note":"%s %s %s"}`, r.Uint32(), 1+r.IntN(9),
				r.IntN(500), r.IntN(100), words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))])
		}
		b.WriteString(`]}`)
		out[i] = b.Bytes()
	}
	return out
}
