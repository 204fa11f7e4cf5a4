// Command benchmount measures the mount against the backing directory it
// serves (make bench-mount): `ls -l` through the mount vs of the backing
// directory, `cat` of every session through the mount vs raw `cat` of the
// backing files vs Django 3.2 decoding every session, and the FUSE requests
// one `ls -l` costs under each kernel-cache setting.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
)

func main() {
	sizes := flag.String("sizes", "10000,100000", "session counts to measure, comma-separated")
	bin := flag.String("bin", "bin/sessionfs", "the sessionfs binary (make build)")
	countN := flag.Int("count-sessions", 1000, "sessions for the FUSE request counts")
	flag.Parse()
	if err := run(*bin, *sizes, *countN); err != nil {
		fmt.Fprintln(os.Stderr, "benchmount:", err)
		os.Exit(1)
	}
}

const secret = "benchmount-secret-key-not-for-production"

func run(bin, sizes string, countN int) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	work, err := os.MkdirTemp("", "benchmount-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	keyFile := filepath.Join(work, "secret.key")
	if err := os.WriteFile(keyFile, []byte(secret), 0o600); err != nil {
		return err
	}
	b := &bench{bin: bin, keyFile: keyFile, work: work}

	fmt.Printf("FUSE requests per listing of %d sessions (two `ls -l` in a row, go-fuse debug log):\n", countN)
	if err := b.requestCounts(countN); err != nil {
		return err
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("bad size %q", s)
		}
		if err := b.timings(n); err != nil {
			return err
		}
	}
	return nil
}

type bench struct {
	bin, keyFile, work string
}

// populate writes n sessions as Django 3.2 would (format C, JSON).
func (b *bench) populate(dir string, n int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cd, err := codec.New(codec.Config{SecretKey: []byte(secret)})
	if err != nil {
		return nil, err
	}
	texts := make([]string, 0, n)
	for i := 0; i < n; i++ {
		js := fmt.Sprintf(`{"_auth_user_id": "%d", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", `+
			`"_auth_user_hash": "%040x", "cart": [{"sku": "TEA-%d", "qty": %d}], "django_language": "en"}`, i, i*7919, i%97, i%5+1)
		data, err := cd.Encode([]byte(js), codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerJSON})
		if err != nil {
			return nil, err
		}
		key := fmt.Sprintf("bench%027d", i)
		if err := os.WriteFile(filepath.Join(dir, "sessionid"+key), data, 0o600); err != nil {
			return nil, err
		}
		texts = append(texts, string(data))
	}
	return texts, nil
}

// mount starts `sessionfs mount` and returns a stop function and the
// process's stderr (the debug log with --debug).
func (b *bench) mount(backing, mnt string, args ...string) (stop func() error, stderr *os.File, err error) {
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return nil, nil, err
	}
	logf, err := os.CreateTemp(b.work, "mount-log-")
	if err != nil {
		return nil, nil, err
	}
	argv := append([]string{"mount", "--session-file-path", backing, "--secret-key-file", b.keyFile, "--no-fsync"}, args...)
	cmd := exec.Command(b.bin, append(argv, mnt)...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "sessionfs: mounted") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			log, _ := os.ReadFile(logf.Name())
			return nil, nil, fmt.Errorf("mount failed:\n%s", log)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, nil, fmt.Errorf("mount not ready after 60s")
	}
	stop = func() error {
		if err := exec.Command(b.bin, "umount", mnt).Run(); err != nil {
			cmd.Process.Kill()
		}
		return cmd.Wait()
	}
	return stop, logf, nil
}

// timeCmd runs a shell command and returns its wall time.
func timeCmd(script string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", script, err, out)
	}
	return time.Since(start), nil
}

var rxRE = regexp.MustCompile(`rx \d+: ([A-Z_]+)`)

// countRequests counts the FUSE requests in log from offset on, by opcode.
func countRequests(log *os.File, from int64) (map[string]int, int64, error) {
	b, err := os.ReadFile(log.Name())
	if err != nil {
		return nil, 0, err
	}
	counts := map[string]int{}
	for _, m := range rxRE.FindAllStringSubmatch(string(b[from:]), -1) {
		counts[m[1]]++
	}
	return counts, int64(len(b)), nil
}

func formatCounts(c map[string]int) string {
	var ops []string
	total := 0
	for op, n := range c {
		ops = append(ops, fmt.Sprintf("%s %d", op, n))
		total += n
	}
	sort.Strings(ops)
	return fmt.Sprintf("%d total (%s)", total, strings.Join(ops, ", "))
}

// configs are the kernel-cache settings compared.
var configs = []struct {
	name string
	args []string
}{
	{"0 s timeouts, no readdirplus", []string{"--cache-timeout", "0", "--readdirplus=false"}},
	{"0 s timeouts + readdirplus", []string{"--cache-timeout", "0", "--readdirplus"}},
	{"10 ms timeouts, no readdirplus", []string{"--cache-timeout", "10ms", "--readdirplus=false"}},
	{"10 ms timeouts + readdirplus (default)", []string{"--cache-timeout", "10ms", "--readdirplus"}},
	{"1 s timeouts + readdirplus", []string{"--cache-timeout", "1s", "--readdirplus"}},
}

func (b *bench) requestCounts(n int) error {
	backing := filepath.Join(b.work, fmt.Sprintf("count-%d", n))
	if _, err := b.populate(backing, n); err != nil {
		return err
	}
	for i, cfg := range configs {
		mnt := filepath.Join(b.work, fmt.Sprintf("mnt-count-%d", i))
		stop, log, err := b.mount(backing, mnt, append([]string{"--debug"}, cfg.args...)...)
		if err != nil {
			return err
		}
		_, off, _ := countRequests(log, 0)
		var lines []string
		for round := 1; round <= 2; round++ {
			if _, err := timeCmd(fmt.Sprintf("ls -l %q > /dev/null", mnt)); err != nil {
				stop()
				return err
			}
			c, next, err := countRequests(log, off)
			if err != nil {
				stop()
				return err
			}
			off = next
			lines = append(lines, fmt.Sprintf("    ls -l #%d: %s", round, formatCounts(c)))
		}
		stop()
		fmt.Printf("  %s\n%s\n", cfg.name, strings.Join(lines, "\n"))
	}
	return nil
}

func (b *bench) timings(n int) error {
	backing := filepath.Join(b.work, fmt.Sprintf("sessions-%d", n))
	fmt.Printf("\n%d sessions: writing them...\n", n)
	texts, err := b.populate(backing, n)
	if err != nil {
		return err
	}
	defer os.RemoveAll(backing)
	lsRaw := fmt.Sprintf("ls -l %q > /dev/null", backing)
	catRaw := fmt.Sprintf("cd %q && find . -maxdepth 1 -type f -print0 | xargs -0 cat > /dev/null", backing)
	rawLs1, err := timeCmd(lsRaw)
	if err != nil {
		return err
	}
	rawLs2, _ := timeCmd(lsRaw)
	rawCat, err := timeCmd(catRaw)
	if err != nil {
		return err
	}
	fmt.Printf("  raw backing dir:  ls -l first %v, again %v; cat all %v\n", rawLs1.Round(time.Millisecond), rawLs2.Round(time.Millisecond), rawCat.Round(time.Millisecond))

	var djangoTime time.Duration
	for i, cfg := range configs {
		mnt := filepath.Join(b.work, fmt.Sprintf("mnt-%d-%d", n, i))
		stop, _, err := b.mount(backing, mnt, cfg.args...)
		if err != nil {
			return err
		}
		cold, err1 := timeCmd(fmt.Sprintf("ls -l %q > /dev/null", mnt))
		warm, err2 := timeCmd(fmt.Sprintf("ls -l %q > /dev/null", mnt))
		var cat time.Duration
		var err3 error
		if catConfig(i) {
			cat, err3 = timeCmd(fmt.Sprintf("cd %q && find . -maxdepth 1 -type f -print0 | xargs -0 cat > /dev/null", mnt))
		}
		stop()
		for _, e := range []error{err1, err2, err3} {
			if e != nil {
				return e
			}
		}
		fmt.Printf("  mount, %s: ls -l cold %v (%.1fx raw), warm %v (%.1fx raw)\n", cfg.name,
			cold.Round(time.Millisecond), ratio(cold, rawLs1), warm.Round(time.Millisecond), ratio(warm, rawLs2))
		if catConfig(i) {
			fmt.Printf("  mount, %s: cat all %v (%.1fx raw cat)\n", cfg.name, cat.Round(time.Millisecond), ratio(cat, rawCat))
			if djangoTime == 0 {
				if djangoTime, err = b.django(texts); err != nil {
					fmt.Printf("  Django decode: not measured: %v\n", err)
				}
			}
			if djangoTime > 0 {
				fmt.Printf("    cat through the mount is %.2fx Django's decode loop\n", ratio(cat, djangoTime))
			}
		}
	}
	return nil
}

// catConfig says which configurations cat every session (it is slow).
func catConfig(i int) bool { return i == 0 || i == 3 || i == len(configs)-1 }

// django times Django 3.2's decode loop over texts (no file I/O, no start-up).
func (b *bench) django(texts []string) (time.Duration, error) {
	dj, err := harness.FindDjango("3.2")
	if err != nil {
		return 0, err
	}
	var res harness.BenchResult
	s := harness.Settings{SecretKey: secret}
	if err := dj.Run(context.Background(), s, harness.OpBenchDecode, harness.BenchRequest{Texts: texts, Rounds: 1}, &res); err != nil {
		return 0, err
	}
	if res.Failures > 0 {
		return 0, fmt.Errorf("Django failed to decode %d of %d sessions", res.Failures, res.N)
	}
	d := time.Duration(res.Seconds * float64(time.Second))
	fmt.Printf("  Django %s decode loop (no file I/O): %v\n", dj.Full, d.Round(time.Millisecond))
	return d, nil
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
