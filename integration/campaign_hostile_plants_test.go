package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/store"
)

// plantPath is the backing file of a planted key.
func plantPath(e *hostileEnv, key string) string { return filepath.Join(e.m.Backing, "sessionid"+key) }

// hiddenAndUnreadable checks that key is neither listed by the mount nor
// openable through it.
func hiddenAndUnreadable(e *hostileEnv, key string) string {
	ents, err := os.ReadDir(e.m.Dir)
	if err != nil {
		return fmt.Sprintf("ls of the mount: %v", err)
	}
	for _, d := range ents {
		if d.Name() == key+".json" {
			return fmt.Sprintf("the mount lists the planted %s", d.Name())
		}
	}
	_, err = os.ReadFile(e.m.File(key))
	return wantErrno("cat "+key+".json", err, syscall.ENOENT)
}

// outsideSession saves a valid session under key in a directory outside the
// backing directory and returns its path.
func outsideSession(e *hostileEnv, key string) string {
	dir := filepath.Join(e.tmp, "outside-"+key)
	os.MkdirAll(dir, 0o700)
	st := campaignStore(e.t, dir, e.m.SecretKey)
	if _, err := st.Save(context.Background(), key, []byte(`{"outside": true}`), store.SaveOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return filepath.Join(dir, "sessionid"+key)
}

func fileSum(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// cliExit runs sessionfs args and wants exit code.
func cliExit(e *hostileEnv, code int, args ...string) string {
	res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, nil, args...)
	if res.Code != code {
		return fmt.Sprintf("sessionfs %v: exit %d, want %d: %.300s", args, res.Code, code, res.Stderr)
	}
	return ""
}

func firstProblem(msgs ...string) string {
	for _, m := range msgs {
		if m != "" {
			return m
		}
	}
	return ""
}

func hostilePlants() []hostileCase {
	return []hostileCase{
		{name: "plant-symlink-etc-shadow",
			plant: func(e *hostileEnv) { must(e, os.Symlink("/etc/shadow", plantPath(e, "plantshadow1"))) },
			run: func(e *hostileEnv) string {
				sum := fileSum("/etc/shadow")
				res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, nil, "show", "plantshadow1")
				return firstProblem(hiddenAndUnreadable(e, "plantshadow1"),
					wantErrno("create over the symlink", writeThrough(e.m.File("plantshadow1"), []byte(`{"x": 1}`), os.O_CREATE|os.O_TRUNC), syscall.ENOENT, syscall.EEXIST),
					map[bool]string{true: fmt.Sprintf("show of the symlink: exit %d, want 3", res.Code)}[res.Code != 3],
					map[bool]string{true: "show printed /etc/shadow"}[strings.Contains(res.Stdout, "root:")],
					map[bool]string{true: "/etc/shadow changed"}[fileSum("/etc/shadow") != sum])
			}},
		{name: "plant-symlink-to-outside-session",
			plant: func(e *hostileEnv) {
				must(e, os.Symlink(outsideSession(e, "plantlink01"), plantPath(e, "plantlink01")))
			},
			run: func(e *hostileEnv) string {
				target, _ := os.Readlink(plantPath(e, "plantlink01"))
				sum := fileSum(target)
				return firstProblem(hiddenAndUnreadable(e, "plantlink01"), cliExit(e, 3, "show", "plantlink01"),
					wantErrno("save over the symlink", writeThrough(e.m.File("plantlink01"), []byte(`{"x": 1}`), os.O_CREATE|os.O_TRUNC), syscall.ENOENT, syscall.EEXIST),
					map[bool]string{true: "the symlink's target changed"}[fileSum(target) != sum])
			}},
		{name: "plant-fifo",
			plant: func(e *hostileEnv) { must(e, syscall.Mkfifo(plantPath(e, "plantfifo01"), 0o600)) },
			run: func(e *hostileEnv) string {
				return firstProblem(hiddenAndUnreadable(e, "plantfifo01"), cliExit(e, 3, "show", "plantfifo01"),
					cliExit(e, 0, "ls", "--json"), cliExit(e, 0, "stats", "--json"), cliExit(e, 3, "verify"), cliExit(e, 0, "gc"),
					wantErrno("create over the fifo", writeThrough(e.m.File("plantfifo01"), []byte(`{"x": 1}`), os.O_CREATE|os.O_TRUNC), syscall.ENOENT, syscall.EEXIST))
			}},
		{name: "plant-directory",
			plant: func(e *hostileEnv) { must(e, os.Mkdir(plantPath(e, "plantdir001"), 0o700)) },
			run: func(e *hostileEnv) string {
				return firstProblem(hiddenAndUnreadable(e, "plantdir001"), cliExit(e, 3, "show", "plantdir001"), cliExit(e, 0, "gc"),
					wantErrno("rm through the mount", os.Remove(e.m.File("plantdir001")), syscall.ENOENT))
			}},
		{name: "plant-hard-link-to-outside", changes: true,
			plant: func(e *hostileEnv) { must(e, os.Link(outsideSession(e, "planthard01"), plantPath(e, "planthard01"))) },
			run: func(e *hostileEnv) string {
				outside := filepath.Join(e.tmp, "outside-planthard01", "sessionidplanthard01")
				sum := fileSum(outside)
				got, err := os.ReadFile(e.m.File("planthard01"))
				if err != nil || !strings.Contains(string(got), "outside") {
					return fmt.Sprintf("cat of the hard-linked session: %v %q", err, got)
				}
				if err := writeThrough(e.m.File("planthard01"), []byte(`{"inside": true}`), os.O_TRUNC); err != nil {
					return fmt.Sprintf("save over the hard-linked session: %v", err)
				}
				if err := os.Remove(e.m.File("planthard01")); err != nil {
					return fmt.Sprintf("rm of the hard-linked session: %v", err)
				}
				return map[bool]string{true: "the file outside the backing directory changed"}[fileSum(outside) != sum]
			}},
		{name: "plant-owned-by-nobody", changes: true,
			plant: func(e *hostileEnv) {
				p := outsideSession(e, "plantnobody")
				must(e, os.Rename(p, plantPath(e, "plantnobody")))
				must(e, os.Chown(plantPath(e, "plantnobody"), 65534, 65534))
			},
			run: func(e *hostileEnv) string {
				if got, err := os.ReadFile(e.m.File("plantnobody")); err != nil || !strings.Contains(string(got), "outside") {
					return fmt.Sprintf("cat of another user's session file: %v %q", err, got)
				}
				if err := writeThrough(e.m.File("plantnobody"), []byte(`{"edited": true}`), os.O_TRUNC); err != nil {
					return fmt.Sprintf("save over another user's session file: %v", err)
				}
				return ""
			}},
		{name: "plant-world-writable", changes: true,
			plant: func(e *hostileEnv) {
				p := outsideSession(e, "plantwwrite")
				must(e, os.Rename(p, plantPath(e, "plantwwrite")))
				must(e, os.Chmod(plantPath(e, "plantwwrite"), 0o666))
			},
			run: func(e *hostileEnv) string {
				if err := writeThrough(e.m.File("plantwwrite"), []byte(`{"edited": true}`), os.O_TRUNC); err != nil {
					return fmt.Sprintf("save over a world-writable session file: %v", err)
				}
				fi, err := os.Stat(plantPath(e, "plantwwrite"))
				if err != nil || fi.Mode().Perm() != 0o664 {
					return fmt.Sprintf("after a save the backing file is %v (%v), want 0664: its mode without write for others", fi.Mode(), err)
				}
				return ""
			}},
		{name: "plant-17MiB-file",
			plant: func(e *hostileEnv) {
				must(e, os.WriteFile(plantPath(e, "plantlarge1"), bytes.Repeat([]byte("A"), 17<<20), 0o600))
			},
			run: func(e *hostileEnv) string {
				return firstProblem(hiddenAndUnreadable(e, "plantlarge1"), cliExit(e, 3, "show", "plantlarge1"))
			}},
		{name: "plant-binary-garbage",
			plant: func(e *hostileEnv) {
				must(e, os.WriteFile(plantPath(e, "plantjunk01"), []byte("\x00\xff\xfe garbage \x80"), 0o600))
			},
			run: func(e *hostileEnv) string {
				return firstProblem(hiddenAndUnreadable(e, "plantjunk01"), cliExit(e, 3, "show", "plantjunk01"))
			}},
		{name: "plant-temp-file",
			plant: func(e *hostileEnv) {
				must(e, os.WriteFile(filepath.Join(e.m.Backing, "sessionid"+e.key+"_out_x1y2z3"), []byte("half a sav"), 0o600))
			},
			run: func(e *hostileEnv) string {
				if n := statsTempFiles(e.t, e.tl, e.m.Backing, e.m.SecretKey); n != 1 {
					return fmt.Sprintf("stats reports %d temp files, want 1", n)
				}
				return hiddenAndUnreadable(e, e.key+"_out_x1y2z3")
			}},
	}
}

func must(e *hostileEnv, err error) {
	if err != nil {
		e.t.Fatal(err)
	}
}

// decodeCase feeds input to `sessionfs decode` and wants exit code within
// a bounded peak memory.
func decodeCase(label string, code int, input func(secret string) []byte, check func(e *hostileEnv, out string) string) hostileCase {
	return hostileCase{name: label, run: func(e *hostileEnv) string {
		res := sfsMeasured(e.t, e.tl, e.m.Backing, e.m.SecretKey, input(e.m.SecretKey), "decode")
		if res.Code != code {
			return fmt.Sprintf("decode: exit %d, want %d: %.300s", res.Code, code, res.Stderr)
		}
		if res.MaxRSS > memLimit {
			return fmt.Sprintf("decode peaked at %d MiB", res.MaxRSS>>20)
		}
		if check != nil {
			return check(e, res.Stdout)
		}
		return ""
	}}
}

// pickle2 wraps pickle opcodes in a protocol-2 header and STOP.
func pickle2(body string) []byte { return []byte("\x80\x02" + body + ".") }

func u32(n uint32) string {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], n)
	return string(b[:])
}

func binUnicode(s string) string { return "X" + u32(uint32(len(s))) + s }

// laughs builds a pickle whose 40 nested lists each hold the previous one
// twice through the memo: tiny on disk, 2^40 leaves if expanded.
func laughs() string {
	var b strings.Builder
	b.WriteString("}(" + binUnicode("a") + "]q\x000")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "]q%c(h%ch%ce0", byte(i), byte(i-1), byte(i-1))
	}
	b.WriteString("h\x28u")
	return b.String()
}

func pwnedCheck(marker string) func(e *hostileEnv, out string) string {
	return func(e *hostileEnv, out string) string {
		if _, err := os.Stat(marker); err == nil {
			os.Remove(marker)
			return "a pickle ran os.system"
		}
		return ""
	}
}

func hostileCodec() []hostileCase {
	marker := filepath.Join(os.TempDir(), fmt.Sprintf("sessionfs-pwned-%d", os.Getpid()))
	system := "cposix\nsystem\n" + binUnicode("touch "+marker) + "\x85R"
	return []hostileCase{
		decodeCase("codec-zlib-bomb", 3, func(secret string) []byte {
			payload := append(append([]byte(`{"a":"`), bytes.Repeat([]byte("0"), 64<<20)...), `"}`...)
			return campaign.SignSigned(secret, payload, true)
		}, nil),
		decodeCase("codec-giant-base64", 3, func(string) []byte { return bytes.Repeat([]byte("A"), 64<<20) }, nil),
		decodeCase("codec-giant-signed-base64", 3, func(secret string) []byte {
			return campaign.SignSigned(secret, bytes.Repeat([]byte("{"), 20<<20), false)
		}, nil),
		decodeCase("codec-pickle-reduce-os-system-in-dict", 0, func(secret string) []byte {
			return campaign.SignLegacy(secret, pickle2("}("+binUnicode("x")+system+"u"))
		}, pwnedCheck(marker)),
		decodeCase("codec-pickle-reduce-os-system-top", 3, func(secret string) []byte {
			return campaign.SignLegacy(secret, pickle2(system))
		}, pwnedCheck(marker)),
		decodeCase("codec-pickle-billion-laughs", 3, func(secret string) []byte {
			return campaign.SignLegacy(secret, pickle2(laughs()))
		}, nil),
		decodeCase("codec-pickle-huge-declared-string", 3, func(secret string) []byte {
			return campaign.SignLegacy(secret, pickle2("}("+binUnicode("a")+"X"+u32(0xffffffff)+"abc"+"u"))
		}, nil),
		decodeCase("codec-pickle-huge-long4", 3, func(secret string) []byte {
			return campaign.SignLegacy(secret, pickle2("}("+binUnicode("a")+"\x8b"+u32(0x7fffffff)+"\x01"+"u"))
		}, nil),
		decodeCase("codec-unsigned-garbage", 2, func(string) []byte { return []byte("garbage:not:signed") }, nil),
		decodeCase("codec-empty", 3, func(string) []byte { return []byte{} }, nil),
		decodeCase("codec-tampered-signature", 2, func(secret string) []byte {
			s := campaign.SignSigned(secret, []byte(`{"a":1}`), false)
			s[len(s)-1] ^= 1
			return s
		}, nil),
	}
}
