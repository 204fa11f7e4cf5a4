package integration

// Live interop between sessionfs's codec and real Django 3.2, 4.2 and 5.2:
// Django encodes fresh random sessions and we decode them; we encode in every
// write format and Django decodes. Frozen vectors are tested in codec/; here
// the other side is a running Django. Prerequisites come from
// integration/scripts/install-deps.sh (missing: skip, or fail under CI=true).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
)

// interopRand returns a generator seeded from $SESSIONFS_INTEROP_SEED or at
// random; the seed is logged so that a failure can be replayed.
func interopRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("SESSIONFS_INTEROP_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SESSIONFS_INTEROP_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("random seed %d (replay with SESSIONFS_INTEROP_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0x5e55))
}

func newCodec(t *testing.T, cfg codec.Config) *codec.Codec {
	t.Helper()
	c, err := codec.New(cfg)
	if err != nil {
		t.Fatalf("codec.New: %v", err)
	}
	return c
}

// assertSame fails t when got is not the session want (order included).
func assertSame(t *testing.T, what string, got, want []byte) {
	t.Helper()
	same, where, err := harness.SameSession(got, want)
	if err != nil {
		t.Errorf("%s: %v\ngot:  %.300s\nwant: %.300s", what, err, got, want)
		return
	}
	if !same {
		t.Errorf("%s: sessions differ at %s\ngot:  %.300s\nwant: %.300s", what, where, got, want)
	}
}

func bytesOf(strs []string) [][]byte {
	out := make([][]byte, len(strs))
	for i, s := range strs {
		out[i] = []byte(s)
	}
	return out
}

// djangoEncodes: sessions encoded by Django with settings s decode, with
// codec c, to exactly what Django was given, and Info says how.
func djangoEncodes(t *testing.T, dj *harness.Django, s harness.Settings, c *codec.Codec, sessions []json.RawMessage, want codec.Info) {
	t.Helper()
	var encoded []string
	dj.Call(t, s, harness.OpEncode, sessions, &encoded)
	if len(encoded) != len(sessions) {
		t.Fatalf("Django encoded %d sessions, want %d", len(encoded), len(sessions))
	}
	for i, enc := range encoded {
		got, info, err := c.Decode([]byte(enc))
		if err != nil {
			t.Errorf("session %d: Decode(%.80q...): %v", i, enc, err)
			continue
		}
		assertSame(t, fmt.Sprintf("session %d", i), got, sessions[i])
		if info.Format != want.Format || info.Serializer != want.Serializer || info.Algorithm != want.Algorithm || info.KeyIndex != want.KeyIndex {
			t.Errorf("session %d: Info %+v, want format %v serializer %v algorithm %v key %d",
				i, info, want.Format, want.Serializer, want.Algorithm, want.KeyIndex)
		}
		if want.Format == codec.FormatSigned && info.Compressed != strings.HasPrefix(enc, ".") {
			t.Errorf("session %d: Info.Compressed %v for %.20q...", i, info.Compressed, enc)
		}
	}
}

// djangoDecodes: Django with settings s decodes each encoded string to
// want[i], or to {} when readable is false (what Django does with a session
// it cannot verify); decode() must not raise either way.
func djangoDecodes(t *testing.T, dj *harness.Django, s harness.Settings, encoded [][]byte, want []json.RawMessage, readable bool) {
	t.Helper()
	strs := make([]string, len(encoded))
	for i, e := range encoded {
		strs[i] = string(e)
	}
	var res []harness.DecodeResult
	dj.Call(t, s, harness.OpDecode, strs, &res)
	if len(res) != len(strs) {
		t.Fatalf("Django decoded %d sessions, want %d", len(res), len(strs))
	}
	for i, r := range res {
		if !r.OK {
			t.Errorf("session %d: Django %s decode raised %s: %s (input %.80q)", i, dj.Full, r.Error, r.Message, strs[i])
			continue
		}
		expect := want[i]
		if !readable {
			expect = json.RawMessage(`{}`)
		}
		assertSame(t, fmt.Sprintf("session %d as decoded by Django %s", i, dj.Full), r.Data, expect)
	}
}

// encodeAll encodes every session with c and opt.
func encodeAll(t *testing.T, c *codec.Codec, sessions []json.RawMessage, opt codec.EncodeOptions) [][]byte {
	t.Helper()
	out := make([][]byte, len(sessions))
	for i, s := range sessions {
		enc, err := c.Encode(s, opt)
		if err != nil {
			t.Fatalf("session %d: Encode(%v): %v\n%.300s", i, opt, err, s)
		}
		out[i] = enc
	}
	return out
}

func TestCodecInteropDjangoEncodes(t *testing.T) {
	for _, v := range harness.Versions {
		t.Run(v, func(t *testing.T) {
			dj := harness.RequireDjango(t, v)
			r := interopRand(t)
			sessions := harness.RandomSessions(r, 40)
			secret := harness.RandomSecret(r, true)
			c := newCodec(t, codec.Config{SecretKey: []byte(secret)})

			t.Run("json", func(t *testing.T) {
				djangoEncodes(t, dj, harness.Settings{SecretKey: secret}, c, sessions,
					codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256})
			})
			if v != "5.2" { // 5.0 removed PickleSerializer
				t.Run("pickle", func(t *testing.T) {
					djangoEncodes(t, dj, harness.Settings{SecretKey: secret, Serializer: "pickle"}, c, sessions,
						codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerPickle, Algorithm: codec.SHA256})
				})
			}
			if v == "3.2" { // DEFAULT_HASHING_ALGORITHM='sha1': 3.1.1-3.2 write format B
				for _, ser := range []string{"json", "pickle"} {
					want := codec.SerializerJSON
					if ser == "pickle" {
						want = codec.SerializerPickle
					}
					t.Run("legacy-"+ser, func(t *testing.T) {
						djangoEncodes(t, dj, harness.Settings{SecretKey: secret, Serializer: ser, HashingAlgorithm: "sha1"}, c, sessions,
							codec.Info{Format: codec.FormatLegacy, Serializer: want, Algorithm: codec.SHA1})
					})
				}
			}
		})
	}
}

// writeVariant is one way sessionfs can write a session, and which Django
// versions read it (spec 3.5); the others must see an empty session.
type writeVariant struct {
	name     string
	opt      codec.EncodeOptions
	django   harness.Settings // serializer/algorithm Django is configured with to read it
	readable map[string]bool
}

var writeVariants = []writeVariant{
	{"signed-sha256-json", codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256},
		harness.Settings{}, map[string]bool{"3.2": true, "4.2": true, "5.2": true}},
	{"signed-sha256-pickle", codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerPickle, Algorithm: codec.SHA256},
		harness.Settings{Serializer: "pickle"}, map[string]bool{"3.2": true, "4.2": true}},
	{"signed-sha1-json", codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA1},
		harness.Settings{}, map[string]bool{"3.2": true}},
	{"legacy-json", codec.EncodeOptions{Format: codec.FormatLegacy, Serializer: codec.SerializerJSON},
		harness.Settings{}, map[string]bool{"3.2": true}},
	{"legacy-pickle", codec.EncodeOptions{Format: codec.FormatLegacy, Serializer: codec.SerializerPickle},
		harness.Settings{Serializer: "pickle"}, map[string]bool{"3.2": true}},
	// Format A (Django 1.0-1.2) is read by no Django from 1.4 on: {} (spec 3.5).
	{"md5-pickle", codec.EncodeOptions{Format: codec.FormatMD5, Serializer: codec.SerializerPickle},
		harness.Settings{Serializer: "pickle"}, map[string]bool{}},
}

func TestCodecInteropDjangoDecodes(t *testing.T) {
	for _, v := range harness.Versions {
		t.Run(v, func(t *testing.T) {
			dj := harness.RequireDjango(t, v)
			r := interopRand(t)
			sessions := harness.RandomSessions(r, 40)
			secret := harness.RandomSecret(r, true)
			c := newCodec(t, codec.Config{SecretKey: []byte(secret)})
			for _, wv := range writeVariants {
				t.Run(wv.name, func(t *testing.T) {
					s := wv.django
					s.SecretKey = secret
					if s.Serializer == "pickle" && v == "5.2" {
						s.Serializer = "" // 5.2 has no pickle serializer: it must still refuse our data
					}
					encoded := encodeAll(t, c, sessions, wv.opt)
					djangoDecodes(t, dj, s, encoded, sessions, wv.readable[v])
				})
			}
		})
	}
}

// TestCodecInteropKeySalt: a project whose store class is not SessionStore
// signs with other salts (spec 1); codec.Config.KeySalt follows it.
func TestCodecInteropKeySalt(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	r := interopRand(t)
	sessions := harness.RandomSessions(r, 5)
	secret := harness.RandomSecret(r, false)
	mine := newCodec(t, codec.Config{SecretKey: []byte(secret), KeySalt: "django.contrib.sessions.ProjectStore"})
	plain := newCodec(t, codec.Config{SecretKey: []byte(secret)})
	for _, alg := range []string{"", "sha1"} { // sha1: format B with "django.contrib.sessionsProjectStore"
		s := harness.Settings{SecretKey: secret, StoreClass: "ProjectStore", HashingAlgorithm: alg}
		var encoded []string
		dj.Call(t, s, harness.OpEncode, sessions, &encoded)
		for i, enc := range encoded {
			got, _, err := mine.Decode([]byte(enc))
			if err != nil {
				t.Errorf("alg %q session %d: Decode with KeySalt ProjectStore: %v", alg, i, err)
				continue
			}
			assertSame(t, fmt.Sprintf("alg %q session %d", alg, i), got, sessions[i])
			if _, _, err := plain.Decode([]byte(enc)); !errors.Is(err, codec.ErrBadSignature) {
				t.Errorf("alg %q session %d: default salt: err %v, want ErrBadSignature", alg, i, err)
			}
		}
		if alg == "" {
			djangoDecodes(t, dj, s, encodeAll(t, mine, sessions, codec.EncodeOptions{}), sessions, true)
			djangoDecodes(t, dj, s, encodeAll(t, plain, sessions, codec.EncodeOptions{}), sessions, false)
		}
	}
}

// TestCodecInteropFallbacks: SECRET_KEY_FALLBACKS (Django 4.1+) both ways.
func TestCodecInteropFallbacks(t *testing.T) {
	for _, v := range []string{"4.2", "5.2"} {
		t.Run(v, func(t *testing.T) {
			dj := harness.RequireDjango(t, v)
			r := interopRand(t)
			sessions := harness.RandomSessions(r, 10)
			current, older, oldest, stranger := harness.RandomSecret(r, false), harness.RandomSecret(r, true),
				harness.RandomSecret(r, false), harness.RandomSecret(r, false)
			rotated := newCodec(t, codec.Config{SecretKey: []byte(current), FallbackKeys: bytesOf([]string{older, oldest})})

			t.Run("django-signs-with-a-fallback", func(t *testing.T) {
				// Before the rotation Django's SECRET_KEY was oldest, now our fallback 2.
				djangoEncodes(t, dj, harness.Settings{SecretKey: oldest}, rotated, sessions,
					codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256, KeyIndex: 2})
			})
			t.Run("we-sign-with-current", func(t *testing.T) {
				encoded := encodeAll(t, rotated, sessions, codec.EncodeOptions{})
				djangoDecodes(t, dj, harness.Settings{SecretKey: current, Fallbacks: []string{older}}, encoded, sessions, true)
				// Signed with the current key only: a Django that knows only the old keys cannot read it.
				djangoDecodes(t, dj, harness.Settings{SecretKey: older, Fallbacks: []string{oldest}}, encoded, sessions, false)
			})
			t.Run("django-reads-our-old-key-as-fallback", func(t *testing.T) {
				old := newCodec(t, codec.Config{SecretKey: []byte(older)})
				encoded := encodeAll(t, old, sessions, codec.EncodeOptions{})
				djangoDecodes(t, dj, harness.Settings{SecretKey: current, Fallbacks: []string{oldest, older}}, encoded, sessions, true)
			})
			t.Run("key-in-neither-list", func(t *testing.T) {
				var encoded []string
				dj.Call(t, harness.Settings{SecretKey: stranger}, harness.OpEncode, sessions, &encoded)
				for i, enc := range encoded {
					if _, _, err := rotated.Decode([]byte(enc)); !errors.Is(err, codec.ErrBadSignature) {
						t.Errorf("session %d signed by a stranger key: err %v, want ErrBadSignature", i, err)
					}
				}
				foreign := newCodec(t, codec.Config{SecretKey: []byte(stranger)})
				djangoDecodes(t, dj, harness.Settings{SecretKey: current, Fallbacks: []string{older, oldest}},
					encodeAll(t, foreign, sessions, codec.EncodeOptions{}), sessions, false)
			})
		})
	}
}

// sessionfsCLI runs the built binary with env and stdin; it returns stdout,
// stderr and the exit code.
func sessionfsCLI(t *testing.T, env []string, stdin []byte, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running sessionfs %v: %v", args, err)
	}
	return out.Bytes(), errb.Bytes(), code
}

// cleanEnv is our environment without any Django setting a developer may
// have exported, so each CLI test says exactly what it sets.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "DJANGO_") || strings.HasPrefix(name, "SESSION_") || strings.HasPrefix(name, "SESSIONFS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCodecInteropCLI: `sessionfs encode` and `sessionfs decode` agree with
// real Django, with the key from the environment or a file flag given before
// or after the command name.
func TestCodecInteropCLI(t *testing.T) {
	for _, v := range harness.Versions {
		t.Run(v, func(t *testing.T) {
			dj := harness.RequireDjango(t, v)
			r := interopRand(t)
			sessions := harness.RandomSessions(r, 3)
			secret := harness.RandomSecret(r, true)
			dir := t.TempDir()
			keyFile := writeFile(t, dir, "secret", []byte(secret+"\n")) // one trailing newline is dropped
			s := harness.Settings{SecretKey: secret}

			keyWays := []struct {
				name string
				env  []string
				args func(cmd string, rest ...string) []string
			}{
				{"env", []string{"DJANGO_SECRET_KEY=" + secret}, func(cmd string, rest ...string) []string {
					return append([]string{cmd}, rest...)
				}},
				{"file-after-command", nil, func(cmd string, rest ...string) []string {
					return append([]string{cmd, "--secret-key-file", keyFile}, rest...)
				}},
				{"file-before-command", nil, func(cmd string, rest ...string) []string {
					return append([]string{"--secret-key-file", keyFile, cmd}, rest...)
				}},
			}
			var djEncoded []string
			dj.Call(t, s, harness.OpEncode, sessions, &djEncoded)
			for _, kw := range keyWays {
				t.Run(kw.name, func(t *testing.T) {
					var ours []string
					for i, sess := range sessions {
						out, errOut, code := sessionfsCLI(t, kw.env, sess, kw.args("encode")...)
						if code != 0 {
							t.Fatalf("session %d: sessionfs encode: exit %d: %s", i, code, errOut)
						}
						ours = append(ours, string(out)) // as is: a trailing newline would break the signature

						file := writeFile(t, dir, fmt.Sprintf("sessionid%s%d", kw.name, i), []byte(djEncoded[i]))
						out, errOut, code = sessionfsCLI(t, kw.env, nil, kw.args("decode", file)...)
						if code != 0 {
							t.Fatalf("session %d: sessionfs decode FILE: exit %d: %s", i, code, errOut)
						}
						assertSame(t, fmt.Sprintf("decode FILE of session %d", i), out, sess)
					}
					djangoDecodes(t, dj, s, bytesOf(ours), sessions, true)
				})
			}

			t.Run("stdin-and-wrong-key", func(t *testing.T) {
				out, errOut, code := sessionfsCLI(t, []string{"DJANGO_SECRET_KEY=" + secret}, []byte(djEncoded[1]), "decode")
				if code != 0 {
					t.Fatalf("sessionfs decode (stdin): exit %d: %s", code, errOut)
				}
				assertSame(t, "decode from stdin", out, sessions[1])
				_, _, code = sessionfsCLI(t, []string{"DJANGO_SECRET_KEY=not-" + secret}, []byte(djEncoded[1]), "decode")
				if code != 2 { // documented: 2 = bad signature
					t.Errorf("decode with the wrong key: exit %d, want 2 (bad signature)", code)
				}
			})
			t.Run("encode-into-session-file", func(t *testing.T) {
				// What an operator does: sessionfs encode > $SESSION_FILE_PATH/sessionid<key>.
				backing := t.TempDir()
				const key = "cliencoded0123456789abcdefghijk"
				out, errOut, code := sessionfsCLI(t, []string{"DJANGO_SECRET_KEY=" + secret}, sessions[1], "encode")
				if code != 0 {
					t.Fatalf("sessionfs encode: exit %d: %s", code, errOut)
				}
				writeFile(t, backing, "sessionid"+key, out)
				var loaded []harness.LoadResult
				dj.Call(t, harness.Settings{SecretKey: secret, SessionFilePath: backing}, harness.OpLoad, []string{key}, &loaded)
				if !loaded[0].OK || !loaded[0].KeyKept {
					t.Fatalf("Django's file backend load: %+v", loaded[0])
				}
				assertSame(t, "file backend load", loaded[0].Data, sessions[1])
			})
			if v == "3.2" {
				t.Run("encode-legacy", func(t *testing.T) {
					out, errOut, code := sessionfsCLI(t, []string{"DJANGO_SECRET_KEY=" + secret}, sessions[1], "encode", "--format", "legacy")
					if code != 0 {
						t.Fatalf("sessionfs encode --format legacy: exit %d: %s", code, errOut)
					}
					djangoDecodes(t, dj, s, [][]byte{out}, sessions[1:2], true)
				})
			}
			if v != "3.2" {
				t.Run("fallbacks-file", func(t *testing.T) {
					current := harness.RandomSecret(r, false)
					fallbacks := writeFile(t, dir, "fallbacks", []byte("unrelated-old-key\n"+secret+"\n"))
					out, errOut, code := sessionfsCLI(t, []string{"DJANGO_SECRET_KEY=" + current}, []byte(djEncoded[1]),
						"decode", "--secret-key-fallbacks-file", fallbacks)
					if code != 0 {
						t.Fatalf("sessionfs decode with fallbacks: exit %d: %s", code, errOut)
					}
					assertSame(t, "decode via fallback key", out, sessions[1])
				})
			}
		})
	}
}
