package codec

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// djangoDecode runs Django 3.2's own SessionStore.decode (Debian's
// python3-django under /usr/bin/python3) on each session_data string and
// returns, per string, json.dumps of the result (JSON serializer) or its repr
// (pickle serializer).
const djangoDecode = `
import json, sys
import django
from django.conf import settings
secret, serializer = sys.argv[1], sys.argv[2]
settings.configure(SECRET_KEY=secret, SESSION_SERIALIZER=serializer,
                   INSTALLED_APPS=['django.contrib.sessions'])
django.setup()
from django.contrib.sessions.backends.file import SessionStore
for data in json.load(sys.stdin):
    d = SessionStore().decode(data)
    print(json.dumps(d, separators=(',', ':')) if serializer.endswith('JSONSerializer') else repr(d))
`

func needDjango(t *testing.T) {
	t.Helper()
	needPython(t)
	if err := exec.Command(systemPython, "-c", "import django").Run(); err != nil {
		if isCI() {
			t.Fatalf("Django is required under CI=true: %v (apt-get install python3-django)", err)
		}
		t.Skipf("no Django for %s: %v (apt-get install python3-django)", systemPython, err)
	}
}

func runDjangoDecode(t *testing.T, secret, serializer string, sessions [][]byte) []string {
	t.Helper()
	strs := make([]string, len(sessions))
	for i, s := range sessions {
		strs[i] = string(s)
	}
	in, _ := json.Marshal(strs)
	cmd := exec.Command(systemPython, "-c", djangoDecode, secret, serializer)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("django: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(sessions) {
		t.Fatalf("django answered %d lines for %d sessions:\n%s", len(lines), len(sessions), out)
	}
	return lines
}

// TestDjangoDecodesOurJSON: what we write in formats C (SHA-256 and the SHA-1
// that 3.2 still accepts) and B, Django 3.2 decodes to the same session.
func TestDjangoDecodesOurJSON(t *testing.T) {
	needDjango(t)
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	sessions := []string{
		`{}`,
		`{"_auth_user_id":"42","_auth_user_backend":"django.contrib.auth.backends.ModelBackend"}`,
		`{"name":"Zoë Ångström 😀 日本語","big":123456789012345678901234567890,"neg":-98765432109876543210,"f":[1.5,1e+100,0.1],"esc":"\"\\\u0001\u007f/<>&"}`,
		`{"nested":{"a":{"b":{"c":[1,[2,[3,{"d":null}]]]}}},"bools":[true,false]}`,
		`{"large":"` + strings.Repeat("compressible text ", 4000) + `"}`,
	}
	opts := []EncodeOptions{{}, {Algorithm: SHA1}, {Format: FormatLegacy}}
	var encoded [][]byte
	var want []string
	for _, s := range sessions {
		canon, err := canonical([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		for _, opt := range opts {
			opt.Now = time.Now()
			out, err := c.Encode([]byte(s), opt)
			if err != nil {
				t.Fatal(err)
			}
			encoded = append(encoded, out)
			want = append(want, string(canon))
		}
	}
	got := runDjangoDecode(t, testSecret, "django.contrib.sessions.serializers.JSONSerializer", encoded)
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("session %d (%v): Django decoded\n%.200s\nwant\n%.200s", i/len(opts), opts[i%len(opts)], got[i], want[i])
		}
	}
}

// TestDjangoDecodesOurPickle: the tagged form written as pickle, in formats C
// and B, is what Django 3.2's PickleSerializer reads back.
func TestDjangoDecodesOurPickle(t *testing.T) {
	needDjango(t)
	var want string
	for _, v := range loadVectors(t) {
		if v.Name == "signing-pickle-non-json-types" {
			want = v.DecodedRepr
		}
	}
	c := mustNew(t, Config{SecretKey: []byte(testSecret)})
	var encoded [][]byte
	for _, f := range []Format{FormatSigned, FormatLegacy} {
		out, err := c.Encode([]byte(nonJSONPickle), EncodeOptions{Format: f, Serializer: SerializerPickle})
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, out)
	}
	for i, got := range runDjangoDecode(t, testSecret, "django.contrib.sessions.serializers.PickleSerializer", encoded) {
		if got != want {
			t.Errorf("format %d: Django decoded\n%s\nwant\n%s", i, got, want)
		}
	}
}

func isCI() bool { return os.Getenv("CI") == "true" }
