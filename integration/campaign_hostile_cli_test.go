package integration

// The CLI's share of the hostile campaign: files a user names (key files,
// the fallbacks file, decode's FILE, the audit log) that are fifos,
// devices, symlinks, oversized or open to others; a setting flag against
// its environment variable; flags after a KEY; input over the bound; a
// socket planted as a session; umount and mount --force of a tmpfs.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
)

// cliFileMemLimit bounds the peak RSS of a CLI run handed a hostile file.
const cliFileMemLimit = 64 << 20

// hostilePath makes a hostile file named name in the case's scratch
// directory: "fifo", "zero" (a symlink to /dev/zero), "big" (70 KiB that
// must never be quoted), "dir", or a regular file of mode "0644" and such.
func hostilePath(e *hostileEnv, kind string) string {
	dir, err := os.MkdirTemp(e.tmp, "cli-")
	if err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(dir, kind)
	switch kind {
	case "fifo":
		must(e, syscall.Mkfifo(p, 0o600))
	case "zero":
		must(e, os.Symlink("/dev/zero", p))
	case "big":
		must(e, os.WriteFile(p, []byte(strings.Repeat("NEVERQUOTED", 70<<10/11+1)), 0o600))
	case "dir":
		must(e, os.Mkdir(p, 0o700))
	default:
		var mode uint32
		if _, err := fmt.Sscanf(kind, "%o", &mode); err != nil {
			e.t.Fatalf("hostilePath %q", kind)
		}
		must(e, os.WriteFile(p, []byte("earlier line\n"), 0o600))
		must(e, os.Chmod(p, os.FileMode(mode)))
	}
	return p
}

// cliFileCase runs sessionfs with a hostile file in place of args' "FILE"
// and wants exit code and want in stderr, within cliFileMemLimit, with
// nothing of the file quoted and the file itself unchanged.
func cliFileCase(label, kind string, code int, want string, args ...string) hostileCase {
	return hostileCase{name: label, run: func(e *hostileEnv) string {
		p := hostilePath(e, kind)
		before := fileState(p)
		argv := make([]string, len(args))
		for i, a := range args {
			argv[i] = strings.ReplaceAll(a, "FILE", p)
		}
		res := sfsMeasured(e.t, e.tl, e.m.Backing, e.m.SecretKey, []byte(`{"hostile": true}`), argv...)
		switch {
		case res.Code != code || !strings.Contains(res.Stderr, want):
			return fmt.Sprintf("sessionfs %q: exit %d, want %d and %q: %.300s", argv, res.Code, code, want, res.Stderr)
		case strings.Contains(res.Stderr, "NEVERQUOTED"):
			return "the error quotes the file's content"
		case res.MaxRSS > cliFileMemLimit:
			return fmt.Sprintf("sessionfs %q peaked at %d MiB", argv, res.MaxRSS>>20)
		case fileState(p) != before:
			return fmt.Sprintf("the refused file changed: %s -> %s", before, fileState(p))
		}
		return ""
	}}
}

// cliEnvRun runs the binary with env (and the campaign's key) and argv.
func cliEnvRun(e *hostileEnv, env []string, stdin []byte, argv ...string) (code int, stderr string) {
	res := checkRun(e.t, e.tl, argv, cmdTimeout, stdin, append([]string{"DJANGO_SECRET_KEY=" + e.m.SecretKey}, env...),
		append([]string{harness.Binary(e.t)}, argv...))
	return res.Code, res.Stderr
}

// decoySession saves the campaign's key in a decoy directory (a "staging"
// beside the backing directory's "production") and returns the directory.
func decoySession(e *hostileEnv) string {
	dir, err := os.MkdirTemp(e.tmp, "decoy-")
	if err != nil {
		e.t.Fatal(err)
	}
	st := campaignStore(e.t, dir, e.m.SecretKey)
	if _, err := st.Save(e.t.Context(), e.key, []byte(`{"decoy": true}`), store.SaveOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// flagOverEnvCase: with SESSION_FILE_PATH naming the backing directory, rm
// with --session-file-path naming a decoy (placed by place) removes the
// decoy's session; the backing directory is unchanged (checked by the
// campaign).
func flagOverEnvCase(label string, place func(flag []string, key string) []string) hostileCase {
	return hostileCase{name: label, run: func(e *hostileEnv) string {
		decoy := decoySession(e)
		argv := place([]string{"--session-file-path", decoy}, e.key)
		code, stderr := cliEnvRun(e, []string{"SESSION_FILE_PATH=" + e.m.Backing}, nil, argv...)
		if code != 0 {
			return fmt.Sprintf("sessionfs %q: exit %d: %s", argv, code, stderr)
		}
		if _, err := os.Lstat(filepath.Join(decoy, "sessionid"+e.key)); err == nil {
			return "the flag's directory still holds the session: rm went elsewhere"
		}
		return ""
	}}
}

func hostileCLI() []hostileCase {
	return []hostileCase{
		cliFileCase("cli-key-file-fifo", "fifo", 1, "is not a regular file (a fifo)", "show", "--secret-key-file", "FILE", "abcdefgh1"),
		cliFileCase("cli-key-file-dev-zero", "zero", 1, "is not a regular file (a device)", "show", "--secret-key-file", "FILE", "abcdefgh1"),
		cliFileCase("cli-key-file-70KiB", "big", 1, "file too large", "show", "--secret-key-file", "FILE", "abcdefgh1"),
		cliFileCase("cli-key-file-directory", "dir", 1, "is not a regular file (a directory)", "show", "--secret-key-file", "FILE", "abcdefgh1"),
		cliFileCase("cli-fallbacks-file-fifo", "fifo", 1, "is not a regular file (a fifo)", "show", "--secret-key-fallbacks-file", "FILE", "abcdefgh1"),
		cliFileCase("cli-fallbacks-file-dev-zero", "zero", 1, "is not a regular file (a device)", "ls", "--secret-key-fallbacks-file", "FILE"),
		cliFileCase("cli-decode-fifo", "fifo", 1, "is not a regular file (a fifo)", "decode", "FILE"),
		cliFileCase("cli-decode-dev-zero", "zero", 1, "is not a regular file (a device)", "decode", "FILE"),
		cliFileCase("cli-audit-log-fifo", "fifo", 1, "is not a regular file (a fifo)", "put", "--audit-log", "FILE", "abcdefgh1"),
		cliFileCase("cli-audit-log-0644", "0644", 1, "open to group or others (mode 0644)", "put", "--audit-log", "FILE", "abcdefgh1"),
		cliFileCase("cli-audit-log-0660", "0660", 1, "open to group or others (mode 0660)", "rm", "--audit-log", "FILE", "abcdefgh1"),
		{name: "cli-audit-log-symlink-to-0644", run: func(e *hostileEnv) string {
			target := hostilePath(e, "0644")
			link := filepath.Join(filepath.Dir(target), "link")
			must(e, os.Symlink(target, link))
			before := fileState(target)
			code, stderr := cliEnvRun(e, nil, []byte(`{"leaked": "personal data"}`),
				"--session-file-path", e.m.Backing, "put", e.key, "--audit-log", link, "--audit-log-content")
			return firstProblem(
				map[bool]string{true: fmt.Sprintf("put with a symlinked audit log: exit %d: %s", code, stderr)}[code != 1 || !strings.Contains(stderr, "is a symlink")],
				map[bool]string{true: "the symlink's target was written"}[fileState(target) != before])
		}},
		{name: "cli-audit-log-another-users", run: func(e *hostileEnv) string {
			p := hostilePath(e, "0600")
			must(e, os.Chown(p, 65534, 65534))
			code, stderr := cliEnvRun(e, nil, nil, "--session-file-path", e.m.Backing, "rm", e.key, "--audit-log", p)
			if code != 1 || !strings.Contains(stderr, "belongs to uid 65534") {
				return fmt.Sprintf("rm with another user's audit log: exit %d: %s", code, stderr)
			}
			return ""
		}},
		flagOverEnvCase("cli-session-file-path-flag-before-command-beats-env", func(flag []string, key string) []string {
			return append(flag, "rm", key)
		}),
		flagOverEnvCase("cli-session-file-path-flag-after-command-beats-env", func(flag []string, key string) []string {
			return append(append([]string{"rm"}, flag...), key)
		}),
		flagOverEnvCase("cli-session-file-path-flag-after-key-beats-env", func(flag []string, key string) []string {
			return append([]string{"rm", key}, flag...)
		}),
		{name: "cli-secret-key-file-flag-beats-env", run: func(e *hostileEnv) string {
			right := filepath.Join(e.tmp, "right.key")
			must(e, os.WriteFile(right, []byte(e.m.SecretKey+"\n"), 0o600))
			wrong := filepath.Join(e.tmp, "wrong.key")
			must(e, os.WriteFile(wrong, []byte("not-the-key\n"), 0o600))
			// With the wrong key the session does not verify: exit 2.
			code, stderr := cliEnvRun(e, []string{"DJANGO_SECRET_KEY_FILE=" + right}, nil,
				"--secret-key-file", wrong, "--session-file-path", e.m.Backing, "show", e.key)
			if code != 2 {
				return fmt.Sprintf("show with --secret-key-file WRONG over $DJANGO_SECRET_KEY_FILE: exit %d, want 2: %s", code, stderr)
			}
			return ""
		}},
		{name: "cli-put-create-after-key", run: func(e *hostileEnv) string {
			// --create after the KEY is a flag: the key is taken, exit 5.
			res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, []byte(`{"a": 1}`), "put", e.key, "--create")
			if res.Code != 5 || !strings.Contains(res.Stderr, "session already exists") {
				return fmt.Sprintf("put KEY --create of a taken key: exit %d, want 5: %s", res.Code, res.Stderr)
			}
			return ""
		}},
		{name: "cli-rm-flag-lookalike-after-dashdash", run: func(e *hostileEnv) string {
			return cliExit(e, 5, "rm", "--", "--audit-log")
		}},
		{name: "cli-put-over-64MiB", run: func(e *hostileEnv) string {
			res := sfsMeasured(e.t, e.tl, e.m.Backing, e.m.SecretKey, make([]byte, 64<<20+1), "put", e.key)
			if res.Code != 3 || !strings.Contains(res.Stderr, "too large") {
				return fmt.Sprintf("put of 64 MiB + 1: exit %d, want 3: %.300s", res.Code, res.Stderr)
			}
			return ""
		}},
		{name: "cli-socket-as-session",
			plant: func(e *hostileEnv) { must(e, syscall.Mknod(plantPath(e, "plantsock01"), syscall.S_IFSOCK|0o600, 0)) },
			run: func(e *hostileEnv) string {
				return firstProblem(hiddenAndUnreadable(e, "plantsock01"), cliExit(e, 3, "show", "plantsock01"),
					cliExit(e, 3, "rm", "plantsock01"), cliExit(e, 3, "verify"))
			}},
		{name: "cli-umount-and-force-leave-a-tmpfs", run: func(e *hostileEnv) string {
			dir, err := os.MkdirTemp(e.tmp, "tmpfs-")
			if err != nil {
				e.t.Fatal(err)
			}
			if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
				harness.Missing(e.t, "a tmpfs mount (root): %v", err)
			}
			defer syscall.Unmount(dir, syscall.MNT_DETACH)
			must(e, os.WriteFile(filepath.Join(dir, "marker"), []byte("kept"), 0o600))
			for _, args := range [][]string{{"umount", dir}, {"umount", "--lazy", dir}, {"mount", "--force", dir}} {
				res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, nil, args...)
				if res.Code != 1 || !strings.Contains(res.Stderr, "not of sessionfs") {
					return fmt.Sprintf("sessionfs %q on a tmpfs: exit %d, want 1: %s", args, res.Code, res.Stderr)
				}
				if b, err := os.ReadFile(filepath.Join(dir, "marker")); err != nil || string(b) != "kept" {
					return fmt.Sprintf("after sessionfs %q the tmpfs is gone: %v", args, err)
				}
			}
			return ""
		}},
		{name: "cli-umount-a-plain-directory", run: func(e *hostileEnv) string {
			return cliExit(e, 1, "umount", e.tmp)
		}},
	}
}
