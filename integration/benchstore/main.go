// Command benchstore compares sessionfs's store with Django 3.2's own file
// backend over the same 100,000 session files (half expired by mtime):
//
//	go run ./integration/benchstore          # what `make bench-store` runs
//	go run ./integration/benchstore -n 20000 -check
//
// It times `sessionfs gc --dry-run` against Django's clear_expired (run on a
// copy, since it deletes), a real `sessionfs gc` on another copy, and
// `sessionfs ls --json` (time and peak RSS of the child process), checks that
// gc and Django leave exactly the same files, and prints a table of ratios.
// Target (issue 3): gc ≥ 20× faster than Django's clear_expired.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
)

const (
	secret           = "bench-store-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
	cookieAge        = 1209600 * time.Second
	targetGCVsDjango = 20.0
)

func main() {
	n := flag.Int("n", 100_000, "number of session files (half expired by mtime)")
	workDir := flag.String("dir", "", "where to create the session directories (default: a new temp dir, removed afterwards)")
	seed := flag.Uint64("seed", 1, "random seed of the generated sessions")
	check := flag.Bool("check", false, "exit 1 when the target is missed")
	flag.Parse()
	if err := run(*n, *workDir, *seed, *check); err != nil {
		slog.Error("bench-store failed", "err", err)
		os.Exit(1)
	}
}

// measurement is one timed contender.
type measurement struct {
	what    string
	elapsed time.Duration
	maxRSS  int64 // KiB; 0 when not measured
}

func run(n int, workDir string, seed uint64, check bool) error {
	if workDir == "" {
		d, err := os.MkdirTemp("", "benchstore-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		workDir = d
	}
	dj, err := harness.FindDjango("3.2")
	if err != nil {
		return fmt.Errorf("Django 3.2 is needed (%s): %w", harness.InstallHint, err)
	}
	bin, err := buildBinary(workDir)
	if err != nil {
		return err
	}
	base := filepath.Join(workDir, "base")
	fmt.Fprintf(os.Stderr, "creating %d session files in %s ...\n", n, base)
	expired, err := createSessions(base, n, seed)
	if err != nil {
		return err
	}
	djangoDir, gcDir := filepath.Join(workDir, "django"), filepath.Join(workDir, "gc")
	for _, d := range []string{djangoDir, gcDir} {
		if err := copyDir(base, d); err != nil {
			return err
		}
	}
	cli := func(dir string, args ...string) (measurement, error) {
		return timeChild(bin, dir, args...)
	}
	var results []measurement
	add := func(what string, m measurement, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		m.what = what
		results = append(results, m)
		return nil
	}
	if _, err := cli(base, "ls", "--json"); err != nil { // warm the page cache for everyone
		return err
	}
	m, err := cli(base, "gc", "--dry-run", "--keep-temp")
	if err := add("sessionfs gc --dry-run", m, err); err != nil {
		return err
	}
	start := time.Now()
	err = dj.Run(context.Background(), harness.Settings{SecretKey: secret, SessionFilePath: djangoDir},
		harness.OpClearExpired, nil, nil)
	if err := add("Django 3.2 clear_expired", measurement{elapsed: time.Since(start)}, err); err != nil {
		return err
	}
	m, err = cli(gcDir, "gc", "--keep-temp")
	if err := add("sessionfs gc", m, err); err != nil {
		return err
	}
	m, err = cli(base, "ls", "--json")
	if err := add("sessionfs ls --json", m, err); err != nil {
		return err
	}
	if err := sameNames(djangoDir, gcDir, n-expired); err != nil {
		return err
	}
	djangoTime := results[1].elapsed
	printTable(os.Stdout, n, expired, results, djangoTime)
	ratio := float64(djangoTime) / float64(results[0].elapsed)
	if check && ratio < targetGCVsDjango {
		return fmt.Errorf("gc --dry-run is %.1f× Django's clear_expired, target ≥ %.0f×", ratio, targetGCVsDjango)
	}
	return nil
}

func printTable(w io.Writer, n, expired int, results []measurement, djangoTime time.Duration) {
	fmt.Fprintf(w, "%d session files, %d expired by mtime; GOMAXPROCS=%d\n\n", n, expired, maxProcs())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "what\ttime\tper session\tpeak RSS\tDjango / this\t")
	for _, m := range results {
		rss := "-"
		if m.maxRSS > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(m.maxRSS)/1024)
		}
		fmt.Fprintf(tw, "%s\t%.3f s\t%.2f µs\t%s\t%.1f×\t\n", m.what, m.elapsed.Seconds(),
			float64(m.elapsed.Microseconds())/float64(n), rss, float64(djangoTime)/float64(m.elapsed))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nDjango's time includes starting Python and importing Django (about 0.3 s). Target: gc ≥ %.0f× Django.\n", targetGCVsDjango)
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }

// buildBinary builds sessionfs into dir.
func buildBinary(dir string) (string, error) {
	root, err := harness.ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "sessionfs")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, msg)
	}
	return out, nil
}

// gnuTime is GNU time, used for the children's peak RSS: the rusage Go
// gets from wait4 would include this process's own RSS, because Go starts
// children with vfork and Linux keeps the peak across exec.
const gnuTime = "/usr/bin/time"

// timeChild runs sessionfs with stdout discarded and returns its wall time
// and (when GNU time is installed) peak RSS.
func timeChild(bin, dir string, args ...string) (measurement, error) {
	argv := append([]string{bin, args[0], "--session-file-path", dir}, args[1:]...)
	rssFile := filepath.Join(os.TempDir(), fmt.Sprintf("benchstore-rss-%d", os.Getpid()))
	defer os.Remove(rssFile)
	_, haveTime := os.Stat(gnuTime)
	if haveTime == nil {
		argv = append([]string{gnuTime, "-f", "%M", "-o", rssFile}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "DJANGO_SECRET_KEY="+secret)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return measurement{}, fmt.Errorf("sessionfs %v: %w", args, err)
	}
	m := measurement{elapsed: time.Since(start)}
	if haveTime == nil {
		out, err := os.ReadFile(rssFile)
		if err != nil {
			return m, fmt.Errorf("reading peak RSS: %w", err)
		}
		if _, err := fmt.Sscan(string(out), &m.maxRSS); err != nil {
			return m, fmt.Errorf("peak RSS %q: %w", out, err)
		}
	}
	return m, nil
}

// createSessions writes n login-like sessions encoded as Django 3.2 does
// (format signed, JSON); every second one gets an mtime past the cookie age.
func createSessions(dir string, n int, seed uint64) (expired int, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	cd, err := codec.New(codec.Config{SecretKey: []byte(secret)})
	if err != nil {
		return 0, err
	}
	r := rand.New(rand.NewPCG(seed, seed))
	now := time.Now()
	const keyChars = "abcdefghijklmnopqrstuvwxyz0123456789"
	for i := range n {
		key := make([]byte, 32)
		for j := range key {
			key[j] = keyChars[r.IntN(len(keyChars))]
		}
		data, err := cd.Encode(harness.LoginSession(r), codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerJSON})
		if err != nil {
			return 0, err
		}
		path := filepath.Join(dir, "sessionid"+string(key))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return 0, err
		}
		mtime := now.Add(-time.Duration(r.Int64N(int64(cookieAge - time.Hour))))
		if i%2 == 1 {
			mtime = now.Add(-cookieAge - time.Hour - time.Duration(r.Int64N(int64(cookieAge))))
			expired++
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			return 0, err
		}
	}
	return expired, nil
}

// copyDir copies every file of src into dst, keeping mtimes.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			return err
		}
		if err := os.Chtimes(to, fi.ModTime(), fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// sameNames checks that Django and gc left the same files, and how many.
func sameNames(a, b string, want int) error {
	na, err := names(a)
	if err != nil {
		return err
	}
	nb, err := names(b)
	if err != nil {
		return err
	}
	if len(na) != want || len(nb) != want {
		return fmt.Errorf("survivors: Django %d, gc %d, want %d", len(na), len(nb), want)
	}
	for name := range na {
		if !nb[name] {
			return fmt.Errorf("%s kept by Django, removed by gc", name)
		}
	}
	return nil
}

func names(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out, nil
}
