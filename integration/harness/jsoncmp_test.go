package harness

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestSameSession(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{`{"a":1,"b":[2,{"c":null}]}`, `{ "a": 1, "b": [2, {"c": null}] }`, true},
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, false}, // order matters
		{`{"n":123456789012345678901234567890}`, `{"n":123456789012345678901234567890}`, true},
		{`{"n":123456789012345678901234567890}`, `{"n":123456789012345678901234567891}`, false},
		{`{"f":1e+100}`, `{"f":1e100}`, true},
		{`{"f":1}`, `{"f":1.0}`, false}, // int vs float in Python
		{`{"s":"\u00e9\ud83d\ude00"}`, `{"s":"é😀"}`, true},
		{`{"s":"a"}`, `{"s":"b"}`, false},
		{`{"a":[1]}`, `{"a":[1,2]}`, false},
		{`{"a":{}}`, `{"a":[]}`, false},
		{`{}`, `{"a":1}`, false},
	}
	for _, c := range cases {
		same, where, err := SameSession([]byte(c.a), []byte(c.b))
		if err != nil {
			t.Fatalf("SameSession(%s, %s): %v", c.a, c.b, err)
		}
		if same != c.same {
			t.Errorf("SameSession(%s, %s) = %v (%s), want %v", c.a, c.b, same, where, c.same)
		}
	}
}

func TestRandomSessionsAreValidObjects(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	for i, s := range RandomSessions(rand.New(rand.NewPCG(seed, 0)), 50) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(s, &m); err != nil {
			t.Fatalf("session %d is not a JSON object: %v\n%s", i, err, s)
		}
		if same, where, err := SameSession(s, s); err != nil || !same {
			t.Fatalf("session %d differs from itself: %s %v", i, where, err)
		}
	}
}
