package integration

// Every shared setting, given as a flag before the command name, after it,
// and after the command's positional arguments, wins over its environment
// variable; with the variable alone, the variable is used. Each setting is
// told apart by what the binary does with it.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/filestore"
)

const (
	settingsSecret      = "settings-precedence-secret-0123456789"
	settingsOtherSecret = "settings-precedence-other-secret-98765"
	settingsFallback    = "settings-precedence-fallback-key-5555"
)

// settingRun is one run of the binary for a setting: the environment
// variable (the loser), the flag (the winner), the command and its
// positional arguments, and effect, which tells from the run which value
// was used: "flag", "env", or what else happened.
type settingRun struct {
	env    []string
	flag   []string
	cmd    []string
	stdin  []byte
	wrap   []string // a command the binary runs under (strace)
	effect func(res cliResult) string
}

// settingCase prepares fresh runs of one setting (a run may leave files).
type settingCase struct {
	flag  string // the flag's name, to check that the table covers every shared setting
	setup func(t *testing.T) settingRun
}

// encodeWith encodes a session in-process with cfg and opt.
func encodeWith(t *testing.T, cfg codec.Config, opt codec.EncodeOptions, js string) []byte {
	t.Helper()
	cd, err := codec.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cd.Encode([]byte(js), opt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeInfo decodes session_data the binary wrote, with key and salt.
func decodeInfo(key, salt string, data string) (codec.Info, error) {
	cd, err := codec.New(codec.Config{SecretKey: []byte(key), KeySalt: salt})
	if err != nil {
		return codec.Info{}, err
	}
	_, info, err := cd.Decode([]byte(data))
	return info, err
}

// byExit tells flag from environment by exit code.
func byExit(flagCode, envCode int) func(cliResult) string {
	return func(res cliResult) string {
		switch res.code {
		case flagCode:
			return "flag"
		case envCode:
			return "env"
		}
		return exitText(res)
	}
}

// exitText describes a run that went neither way.
func exitText(res cliResult) string {
	return fmt.Sprintf("exit %d: %s", res.code, res.stderr)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// byEncoded tells flag from environment by what encode wrote.
func byEncoded(flagWrote, envWrote func(codec.Info) bool) func(cliResult) string {
	return func(res cliResult) string {
		if res.code != 0 {
			return exitText(res)
		}
		info, err := decodeInfo(settingsSecret, "", res.stdout)
		switch {
		case err != nil:
			return "encode wrote what does not decode: " + err.Error()
		case flagWrote(info):
			return "flag"
		case envWrote(info):
			return "env"
		}
		return "encode wrote " + jsonString(info)
	}
}

// byListing tells flag from environment by the keys ls --json lists.
func byListing(flagKey, envKey string) func(cliResult) string {
	return func(res cliResult) string {
		if res.code != 0 {
			return exitText(res)
		}
		switch {
		case strings.Contains(res.stdout, `"key":"`+flagKey+`"`) && !strings.Contains(res.stdout, `"key":"`+envKey+`"`):
			return "flag"
		case strings.Contains(res.stdout, `"key":"`+envKey+`"`) && !strings.Contains(res.stdout, `"key":"`+flagKey+`"`):
			return "env"
		}
		return "ls listed: " + res.stdout
	}
}

func settingCases(t *testing.T) []settingCase {
	base := t.TempDir()
	dir := filepath.Join(base, "sessions")
	os.MkdirAll(dir, 0o700)
	sessionFile := writeFile(t, base, "session", encodeWith(t, codec.Config{SecretKey: []byte(settingsSecret)}, codec.EncodeOptions{}, `{"a": 1}`))
	save := func(dir, name, key string, mtime time.Time) {
		st := campaignStore(t, dir, settingsSecret)
		if _, err := st.Save(t.Context(), key, []byte(`{"a": 1}`), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		if name != "sessionid"+key {
			if err := os.Rename(filepath.Join(dir, "sessionid"+key), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		setMtime(t, filepath.Join(dir, name), mtime)
	}
	flagDir, envDir := filepath.Join(base, "flagdir"), filepath.Join(base, "envdir")
	os.MkdirAll(flagDir, 0o700)
	os.MkdirAll(envDir, 0o700)
	save(flagDir, "sessionidflagsess1", "flagsess1", time.Now())
	save(envDir, "sessionidenvsess01", "envsess01", time.Now())
	save(dir, "flagprefixflagsess1", "flagsess1", time.Now())
	save(dir, "envprefixenvsess01", "envsess01", time.Now())
	save(dir, "sessionidagedsess1", "agedsess1", time.Now().Add(-1000*time.Second))
	keyFile := writeFile(t, base, "key", []byte(settingsSecret+"\n"))
	otherKeyFile := writeFile(t, base, "otherkey", []byte(settingsOtherSecret+"\n"))
	fallbackFile := writeFile(t, base, "fallbacks", []byte(settingsFallback+"\n"))
	otherFallbackFile := writeFile(t, base, "otherfallbacks", []byte(settingsOtherSecret+"\n"))
	byFallback := writeFile(t, base, "byfallback", encodeWith(t, codec.Config{SecretKey: []byte(settingsFallback)}, codec.EncodeOptions{}, `{"a": 1}`))
	const salt = "django.contrib.sessions.MySessionStore"
	salted := writeFile(t, base, "salted", encodeWith(t, codec.Config{SecretKey: []byte(settingsSecret), KeySalt: salt}, codec.EncodeOptions{}, `{"a": 1}`))

	fixed := func(r settingRun) func(*testing.T) settingRun { return func(*testing.T) settingRun { return r } }
	cases := []settingCase{
		{"session-file-path", fixed(settingRun{
			env: []string{"SESSION_FILE_PATH=" + envDir}, flag: []string{"--session-file-path", flagDir},
			cmd: []string{"ls", "--json"}, effect: byListing("flagsess1", "envsess01"),
		})},
		{"secret-key-file", fixed(settingRun{
			env: []string{"DJANGO_SECRET_KEY_FILE=" + otherKeyFile}, flag: []string{"--secret-key-file", keyFile},
			cmd: []string{"decode", sessionFile}, effect: byExit(0, 2),
		})},
		{"secret-key-fallbacks-file", fixed(settingRun{
			env: []string{"DJANGO_SECRET_KEY_FALLBACKS_FILE=" + otherFallbackFile}, flag: []string{"--secret-key-fallbacks-file", fallbackFile},
			cmd: []string{"decode", byFallback}, effect: byExit(0, 2),
		})},
		{"key-salt", fixed(settingRun{
			env: []string{"SESSION_KEY_SALT=django.contrib.sessions.OtherStore"}, flag: []string{"--key-salt", salt},
			cmd: []string{"decode", salted}, effect: byExit(0, 2),
		})},
		{"serializer", fixed(settingRun{
			env: []string{"SESSION_SERIALIZER=json"}, flag: []string{"--serializer", "pickle"},
			cmd: []string{"encode"}, stdin: []byte(`{"a": 1}`),
			effect: byEncoded(func(i codec.Info) bool { return i.Serializer == codec.SerializerPickle },
				func(i codec.Info) bool { return i.Serializer == codec.SerializerJSON }),
		})},
		{"algorithm", fixed(settingRun{
			env: []string{"SESSION_SIGNING_ALGORITHM=sha256"}, flag: []string{"--algorithm", "sha1"},
			cmd: []string{"encode"}, stdin: []byte(`{"a": 1}`),
			effect: byEncoded(func(i codec.Info) bool { return i.Algorithm == codec.SHA1 },
				func(i codec.Info) bool { return i.Algorithm == codec.SHA256 }),
		})},
		{"format", fixed(settingRun{
			env: []string{"SESSION_FORMAT=signed"}, flag: []string{"--format", "legacy"},
			cmd: []string{"encode"}, stdin: []byte(`{"a": 1}`),
			effect: byEncoded(func(i codec.Info) bool { return i.Format == codec.FormatLegacy },
				func(i codec.Info) bool { return i.Format == codec.FormatSigned }),
		})},
		{"max-decoded-size", fixed(settingRun{
			env: []string{"SESSION_MAX_DECODED_SIZE=4"}, flag: []string{"--max-decoded-size", "1000000"},
			cmd: []string{"decode", sessionFile}, effect: byExit(0, 3),
		})},
		{"cookie-name", fixed(settingRun{
			env: []string{"SESSION_COOKIE_NAME=envprefix"}, flag: []string{"--cookie-name", "flagprefix"},
			cmd: []string{"ls", "--json"}, effect: byListing("flagsess1", "envsess01"),
		})},
		{"cookie-age", fixed(settingRun{
			// agedsess1 was saved 1000 s ago: expired with an age of 100 s.
			env: []string{"SESSION_COOKIE_AGE=100"}, flag: []string{"--cookie-age", "100000"},
			cmd: []string{"ls", "--json", "--expired"},
			effect: func(res cliResult) string {
				switch {
				case res.code != 0:
					return exitText(res)
				case res.stdout == "":
					return "flag"
				case strings.Contains(res.stdout, `"key":"agedsess1"`):
					return "env"
				}
				return "ls listed: " + res.stdout
			},
		})},
		{"no-fsync", func(t *testing.T) settingRun {
			requireTool(t, "strace")
			trace := filepath.Join(t.TempDir(), "strace")
			return settingRun{
				env: []string{"SESSIONFS_NO_FSYNC=true"}, flag: []string{"--no-fsync=false"},
				cmd: []string{"put", "fsyncsess1"}, stdin: []byte(`{"a": 1}`),
				effect: func(res cliResult) string {
					if res.code != 0 {
						return exitText(res)
					}
					b, err := os.ReadFile(trace)
					switch {
					case err != nil:
						return err.Error()
					case strings.Contains(string(b), "fsync("):
						return "flag"
					}
					return "env"
				},
				wrap: []string{"strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-e", "signal=none", "-o", trace},
			}
		}},
		{"audit-log", func(t *testing.T) settingRun {
			tmp := t.TempDir()
			flagLog, envLog := filepath.Join(tmp, "flag.log"), filepath.Join(tmp, "env.log")
			return settingRun{
				env: []string{"SESSIONFS_AUDIT_LOG=" + envLog}, flag: []string{"--audit-log", flagLog},
				cmd: []string{"put", "auditsess1"}, stdin: []byte(`{"a": 1}`),
				effect: func(res cliResult) string {
					_, errFlag := os.Stat(flagLog)
					_, errEnv := os.Stat(envLog)
					switch {
					case res.code != 0:
						return exitText(res)
					case errFlag == nil && errEnv != nil:
						return "flag"
					case errEnv == nil && errFlag != nil:
						return "env"
					}
					return "audit logs: flag " + jsonString(errFlag == nil) + ", env " + jsonString(errEnv == nil)
				},
			}
		}},
		{"audit-log-content", func(t *testing.T) settingRun {
			log := filepath.Join(t.TempDir(), "audit.log")
			return settingRun{
				env: []string{"SESSIONFS_AUDIT_LOG=" + log, "SESSIONFS_AUDIT_LOG_CONTENT=true"}, flag: []string{"--audit-log-content=false"},
				cmd: []string{"put", "auditsess2"}, stdin: []byte(`{"a": 1}`),
				effect: func(res cliResult) string {
					b, err := os.ReadFile(log)
					switch {
					case res.code != 0:
						return exitText(res)
					case err != nil:
						return err.Error()
					case strings.Contains(string(b), `"after_content"`):
						return "env"
					}
					return "flag"
				},
			}
		}},
	}
	cases = append(cases, djangoSettingCases(t, dir)...)
	cases = append(cases, dbSettingCases(t)...)
	cases = append(cases, cacheSettingCases(t)...)
	// Every run works on dir with the right key, unless the case says otherwise.
	for i := range cases {
		setup := cases[i].setup
		cases[i].setup = func(t *testing.T) settingRun {
			r := setup(t)
			r.env = append([]string{"DJANGO_SECRET_KEY=" + settingsSecret, "SESSION_FILE_PATH=" + dir}, r.env...)
			return r
		}
	}
	return cases
}

// djangoSettingCases are the settings that read the site's settings module
// (Django 3.2): a project whose SESSION_COOKIE_NAME is "sitesid", over dir,
// where sitesiddjangosess1 is the session only that name finds.
func djangoSettingCases(parent *testing.T, dir string) []settingCase {
	var project string
	setupDjango := func(t *testing.T) string {
		harness.RequireDjango(t, "3.2")
		if project == "" {
			// Made once, for every case: under the parent test.
			project = startProject(parent, `
SECRET_KEY = "`+settingsSecret+`"
SESSION_ENGINE = "django.contrib.sessions.backends.file"
SESSION_FILE_PATH = "`+dir+`"
SESSION_COOKIE_NAME = "sitesid"
`)
			st, err := filestore.New(filestore.Config{Dir: dir, CookieName: "sitesid", Codec: mustCodec(t, settingsSecret), NoFsync: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Save(t.Context(), "djangosess1", []byte(`{"site": true}`), store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return project
	}
	// Django's settings read: the listing is the site's (sitesid) sessions.
	bySite := func(res cliResult) string {
		switch {
		case res.code == 0 && strings.Contains(res.stdout, `"key":"djangosess1"`):
			return "flag"
		case res.code == 0 && strings.Contains(res.stdout, `"key":"agedsess1"`):
			return "env" // sessionid: Django's settings were not read
		case res.code == 1 && strings.Contains(res.stderr, "reading Django settings"):
			return "env" // the environment's interpreter or project
		}
		return exitText(res)
	}
	empty := parent.TempDir()
	return []settingCase{
		{"django-settings", func(t *testing.T) settingRun {
			p := setupDjango(t)
			return settingRun{
				env:  []string{"SESSIONFS_PYTHON=" + harness.SystemPython, "SESSIONFS_DJANGO_PROJECT=" + p},
				flag: []string{"--django-settings", "mysite.settings"}, cmd: []string{"ls", "--json"}, effect: bySite,
			}
		}},
		{"from-django", func(t *testing.T) settingRun {
			p := setupDjango(t)
			return settingRun{
				env:  []string{"SESSIONFS_PYTHON=" + harness.SystemPython, "SESSIONFS_DJANGO_PROJECT=" + p, "DJANGO_SETTINGS_MODULE=mysite.settings"},
				flag: []string{"--from-django"}, cmd: []string{"ls", "--json"}, effect: bySite,
			}
		}},
		{"python", func(t *testing.T) settingRun {
			p := setupDjango(t)
			return settingRun{
				env:  []string{"SESSIONFS_PYTHON=" + filepath.Join(empty, "no-python"), "SESSIONFS_DJANGO_PROJECT=" + p},
				flag: []string{"--python", harness.SystemPython}, cmd: []string{"ls", "--json", "--django-settings", "mysite.settings"}, effect: bySite,
			}
		}},
		{"django-project", func(t *testing.T) settingRun {
			p := setupDjango(t)
			return settingRun{
				env:  []string{"SESSIONFS_PYTHON=" + harness.SystemPython, "SESSIONFS_DJANGO_PROJECT=" + empty},
				flag: []string{"--django-project", p}, cmd: []string{"ls", "--json", "--django-settings", "mysite.settings"}, effect: bySite,
			}
		}},
	}
}

func mustCodec(t *testing.T, secret string) *codec.Codec {
	t.Helper()
	cd, err := codec.New(codec.Config{SecretKey: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return cd
}

// globalSettings reads the shared settings and their environment variables
// from `sessionfs --help`: every global flag is a shared setting.
func globalSettings(t *testing.T) map[string]string {
	t.Helper()
	res := runBinary(t, nil, nil, "--help")
	_, opts, ok := strings.Cut(res.stdout, "GLOBAL OPTIONS:")
	if res.code != 0 || !ok {
		t.Fatalf("sessionfs --help: exit %d: %s", res.code, res.stdout)
	}
	env := regexp.MustCompile(`\[\$([A-Z_]+)\]\s*$`)
	out := map[string]string{}
	for _, line := range strings.Split(opts, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "--") || f[0] == "--help," {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(f[0], "--"), ",")
		out[name] = ""
		if m := env.FindStringSubmatch(line); m != nil {
			out[name] = m[1]
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d shared settings in sessionfs --help: %q", len(out), opts)
	}
	return out
}

// TestSettingsFlagBeatsEnvironment: for every shared setting, the value of
// its environment variable alone is used; a flag wins over it before the
// command name, after it, and after the command's positional arguments.
func TestSettingsFlagBeatsEnvironment(t *testing.T) {
	cases := settingCases(t)
	settings := globalSettings(t)
	for _, c := range cases {
		delete(settings, c.flag)
	}
	for name := range settings {
		t.Errorf("the shared setting --%s has no case", name)
	}
	all := globalSettings(t)
	positions := []struct {
		name  string
		place func(cmd, flag []string) []string
	}{
		{"before-command", func(cmd, flag []string) []string { return slices.Concat(flag, cmd) }},
		{"after-command", func(cmd, flag []string) []string { return slices.Concat(cmd[:1], flag, cmd[1:]) }},
		{"after-arguments", func(cmd, flag []string) []string { return slices.Concat(cmd, flag) }},
	}
	for _, c := range cases {
		t.Run(c.flag, func(t *testing.T) {
			r := c.setup(t)
			if v := all[c.flag]; v != "" && !slices.ContainsFunc(r.env[2:], func(kv string) bool { return strings.HasPrefix(kv, v+"=") }) {
				t.Fatalf("the case does not set $%s", v)
			}
			if got := runSetting(t, r, r.cmd); got != "env" {
				t.Errorf("without --%s (environment %q): %s, want the environment's value", c.flag, r.env[2:], got)
			}
			for _, pos := range positions {
				r := c.setup(t)
				argv := pos.place(r.cmd, r.flag)
				if got := runSetting(t, r, argv); got != "flag" {
					t.Errorf("sessionfs %q with %q: %s, want the flag's value", argv, r.env[2:], got)
				}
			}
		})
	}
}

// runSetting runs argv as r says and tells which value was used.
func runSetting(t *testing.T, r settingRun, argv []string) string {
	t.Helper()
	return r.effect(runCommand(t, "", r.env, r.stdin, slices.Concat(r.wrap, []string{harness.Binary(t)}, argv)...))
}
