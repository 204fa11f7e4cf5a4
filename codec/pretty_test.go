package codec

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestPretty(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, "{}\n"},
		{`{"a":[],"b":{}}`, "{\n  \"a\": [],\n  \"b\": {}\n}\n"},
		{`{"cart":[1,2,3],"theme":"dark"}`, "{\n  \"cart\": [\n    1,\n    2,\n    3\n  ],\n  \"theme\": \"dark\"\n}\n"},
		{`{"n":"Zo\u00eb \ud83d\ude00","c":"\u0001\u007f\"\\\n","s":"\ud800x"}`,
			"{\n  \"n\": \"Zoë 😀\",\n  \"c\": \"\\u0001\\u007f\\\"\\\\\\n\",\n  \"s\": \"\\ud800x\"\n}\n"},
		{"{ \"x\" : [ 1 , { \"y\" : null } ] }", "{\n  \"x\": [\n    1,\n    {\n      \"y\": null\n    }\n  ]\n}\n"},
	} {
		got, err := Pretty([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("Pretty(%s) = %q, %v\nwant %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{"a":[1}`, `{"a":"x`, `{"a":1`, `]`} {
		if _, err := Pretty([]byte(bad)); !errors.Is(err, ErrInvalidSession) {
			t.Errorf("Pretty(%s) err = %v, want ErrInvalidSession", bad, err)
		}
	}
}

// TestPrettyRoundTrip: what cat shows, written back, encodes to the same session.
func TestPrettyRoundTrip(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	for _, v := range loadVectors(t) {
		if v.Expect != "ok" {
			continue
		}
		js, _, err := v.codec(t).Decode([]byte(v.Encoded))
		if err != nil {
			continue // list-not-dict
		}
		pretty, err := Pretty(js)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		ser := SerializerJSON
		if HasTagged(js) {
			ser = SerializerPickle
		}
		a, err1 := c.Encode(js, EncodeOptions{Serializer: ser})
		b, err2 := c.Encode(pretty, EncodeOptions{Serializer: ser, Now: mustInfo(t, c, a).Timestamp})
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Errorf("%s: compact and pretty encode differently (%v, %v)", v.Name, err1, err2)
		}
	}
}

func mustInfo(t testing.TB, c *Codec, data []byte) Info {
	t.Helper()
	_, info, err := c.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestMember(t *testing.T) {
	js := []byte(`{"_auth_user_id":"42","x":{"_auth_user_id":1},"_session_expiry":1700000000,"k\u00e9":[1,"]"],"e":""}`)
	for key, want := range map[string]string{
		"_auth_user_id":   `"42"`,
		"_session_expiry": `1700000000`,
		"x":               `{"_auth_user_id":1}`,
		"ké":              `[1,"]"]`,
		"e":               `""`,
	} {
		got, ok := Member(js, key)
		if !ok || string(got) != want {
			t.Errorf("Member(%q) = %s, %v; want %s", key, got, ok, want)
		}
	}
	for _, key := range []string{"missing", "_auth_user"} {
		if got, ok := Member(js, key); ok {
			t.Errorf("Member(%q) = %s, want absent", key, got)
		}
	}
	if _, ok := Member([]byte(`[1]`), "a"); ok {
		t.Error("Member of a list found something")
	}
}

func TestHasTagged(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":1}`:                      false,
		`{"a":{"$float":"nan"}}`:       false,
		`{"a":{"$dict":[["$set",1]]}}`: false,
		`{"a":{"$set":[1]}}`:           true,
		`{"a":[{"$bytes":"AA=="}]}`:    true,
		`{"a":{"$dict":[[1,2]]}}`:      true,
		`{"$object":"x.Y","args":[]}`:  true,
		`{"a":{"$notatag":1}}`:         false,
		`{"a":{"$set":[1],"other":2}}`: false,
	} {
		if got := HasTagged([]byte(in)); got != want {
			t.Errorf("HasTagged(%s) = %v, want %v", in, got, want)
		}
	}
}

// TestTagEscape: a real JSON dict that looks like a tag survives decode and
// encode unchanged.
func TestTagEscape(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	orig := `{"a":{"$set":[1]},"$object":"x","b":{"$float":"nan"}}`
	if js, _, err := c.Decode(signC(b64u([]byte(`{"$object":"x","y":1}`)))); err != nil || string(js) != `{"$dict":[["$object","x"],["y",1]]}` {
		t.Errorf("top-level $object dict decoded as %s, %v", js, err)
	}
	enc := signC(b64u([]byte(orig)))
	js, _, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	// "$object" is not the first key, so only the inner dicts read as tags.
	want := `{"a":{"$dict":[["$set",[1]]]},"$object":"x","b":{"$dict":[["$float","nan"]]}}`
	if string(js) != want {
		t.Fatalf("decoded %s\nwant %s", js, want)
	}
	out, err := c.Encode(js, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := payloadOf(out)
	if err != nil || string(raw) != orig {
		t.Fatalf("re-encoded payload %s (%v), want %s", raw, err, orig)
	}
}

// TestPython2ZeroLong: Python 2 pickles 0L as LONG1 with no bytes.
func TestPython2ZeroLong(t *testing.T) {
	js, err := decodePickleSession([]byte("\x80\x02}q\x00U\x01nq\x01\x8a\x00s."), 1<<20)
	if err != nil || string(js) != `{"n":0}` {
		t.Fatalf("got %s, %v", js, err)
	}
}

// TestPrettySize: PrettySize is len(Pretty) for every input Pretty takes
// (vectors, escapes, long strings and deep nesting past its internal
// buffer) and fails where Pretty fails, without holding the rendering.
func TestPrettySize(t *testing.T) {
	long := strings.Repeat(`ab\u00e9\ud83d\ude00\u0001\"`, 3000)
	inputs := []string{
		`{}`, `{"a":[],"b":{}}`, `{"cart":[1,2,3],"theme":"dark"}`,
		`{"n":"Zo\u00eb \ud83d\ude00","c":"\u0001\u007f\"\\\n","s":"\ud800x"}`,
		"{ \"x\" : [ 1 , { \"y\" : null } ] }",
		`{"long":"` + long + `","k":"` + strings.Repeat("x", 100000) + `"}`,
		`{"deep":` + strings.Repeat(`[1,`, 3000) + `2` + strings.Repeat(`]`, 3000) + `}`,
		`{"many":[` + strings.Repeat(`"v",12345.5e3,true,null,`, 2000) + `0]}`,
	}
	for _, v := range loadVectors(t) {
		if js, _, err := v.codec(t).Decode([]byte(v.Encoded)); err == nil {
			inputs = append(inputs, string(js))
		}
	}
	for _, in := range inputs {
		pretty, err := Pretty([]byte(in))
		if err != nil {
			t.Fatalf("Pretty(%.60s): %v", in, err)
		}
		if size, err := PrettySize([]byte(in)); err != nil || size != int64(len(pretty)) {
			t.Errorf("PrettySize(%.60s) = %d, %v, want %d", in, size, err, len(pretty))
		}
	}
	for _, bad := range []string{`{"a":[1}`, `{"a":"x`, `{"a":1`, `]`, `{"a":"\u12"}`, `{"a":"` + long} {
		if _, err := PrettySize([]byte(bad)); !errors.Is(err, ErrInvalidSession) {
			t.Errorf("PrettySize(%.60s) err = %v, want ErrInvalidSession", bad, err)
		}
	}
	big := []byte(`{"big": "` + strings.Repeat("x", 15<<20) + `"}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	size, err := PrettySize(big)
	runtime.ReadMemStats(&after)
	if err != nil || size != int64(len(big))+5 {
		t.Fatalf("PrettySize(15 MiB) = %d, %v, want %d", size, err, len(big)+5)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("PrettySize of a 15 MiB session allocated %d bytes, want at most 64 KiB", got)
	}
}
