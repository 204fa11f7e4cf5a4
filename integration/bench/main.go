// Command bench measures sessionfs against what it replaces or sits on, all
// in one run on the same data, and prints one table of ratios with targets.
// `make bench` runs it at full scale:
//
//	go run ./integration/bench                       # full scale, several minutes
//	go run ./integration/bench -scale small          # every size / 50
//	go run ./integration/bench -only decode,gc -check
//
// Progress goes to stderr, the table to stdout.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// secret signs every generated session; the mounts and the CLI read it from
// a key file, Django gets it in its settings.
const secret = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

// sections are the groups of rows -only selects, in the order they run.
var sections = []struct {
	name string
	run  func(*bench) ([]row, error)
}{
	{"decode", (*bench).decodeRows},
	{"list", (*bench).listRows},
	{"cat", (*bench).catRows},
	{"save", (*bench).saveRows},
	{"gc", (*bench).gcRows},
	{"memory", (*bench).memoryRows},
	{"lock", (*bench).lockRows},
	{"db", (*bench).dbRows},
	{"cache", (*bench).cacheRows},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == memfsCommand {
		os.Exit(serveMemfs(os.Args[2:]))
	}
	scale := flag.String("scale", "full", "sizes: full, small (1/50) or tiny (1/1000, for the test)")
	only := flag.String("only", "", "comma-separated sections to run (decode,list,cat,save,gc,memory,lock,db,cache); default all")
	bin := flag.String("bin", "bin/sessionfs", "the sessionfs binary (make build)")
	rounds := flag.Int("rounds", 3, "timed rounds of every repeatable measurement; the best counts")
	seed := flag.Uint64("seed", 1, "random seed of the generated sessions")
	dir := flag.String("dir", "", "work directory (default: a new temp dir, removed afterwards)")
	check := flag.Bool("check", false, "exit 1 when a target is missed")
	requests := flag.Int("requests", 0, "also count the FUSE requests of `ls -l` over this many sessions under each kernel-cache setting (0: no)")
	memory := flag.Int("memory", 0, "sessions of the memory rows (8), e.g. 1000000; default: the scale's")
	fsKind := flag.String("fs", fsImage, "where the sections write their sessions: "+fsHelp())
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the sessionfs decode loops (the first workload) to this file")
	flag.Parse()
	sz, ok := scales[*scale]
	if !ok {
		fatal(fmt.Errorf("unknown -scale %q (want full, small or tiny)", *scale))
	}
	if *memory > 0 {
		sz.memory = *memory
	}
	selected, err := selectSections(*only)
	if err != nil {
		fatal(err)
	}
	b, cleanup, err := newBench(*bin, *dir, *fsKind, sz, *rounds, *seed)
	if err != nil {
		fatal(err)
	}
	b.backend = backendScales[*scale]
	rows, err := b.runSections(selected)
	var counts bytes.Buffer // printed after the table, which stays the first thing on stdout
	if err == nil && *requests > 0 {
		_, err = b.inSection("requests", func() ([]row, error) { return nil, b.requestCounts(&counts, *requests) })
	}
	if err != nil {
		cleanup()
		fatal(err)
	}
	missed := printTable(os.Stdout, rows)
	printFooter(os.Stdout, b, reproduce(*scale, *only, *bin, *fsKind, *rounds, *seed, *requests, *memory))
	os.Stdout.Write(counts.Bytes())
	// With -fs dir, removing a million files takes minutes: the table
	// comes first.
	cleanup()
	if *check && missed {
		fmt.Fprintln(os.Stderr, "bench: a target was missed")
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func selectSections(only string) (map[string]bool, error) {
	selected := map[string]bool{}
	for _, s := range sections {
		selected[s.name] = only == ""
	}
	if only == "" {
		return selected, nil
	}
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		if _, ok := selected[name]; !ok {
			return nil, fmt.Errorf("unknown -only section %q", name)
		}
		selected[name] = true
	}
	return selected, nil
}

// runSections runs the selected sections and logs how long each took, so
// that a slow run shows where the time went.
func (b *bench) runSections(selected map[string]bool) ([]row, error) {
	var rows []row
	for _, s := range sections {
		if !selected[s.name] {
			continue
		}
		start := time.Now()
		progress("== %s", s.name)
		r, err := b.inSection(s.name, func() ([]row, error) { return s.run(b) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		progress("== %s done in %s", s.name, time.Since(start).Round(100*time.Millisecond))
		rows = append(rows, r...)
	}
	return rows, nil
}

// reproduce is the command line that gives this table again, with every
// flag spelled out (run from the module root).
func reproduce(scale, only, bin, fsKind string, rounds int, seed uint64, requests, memory int) string {
	cmd := fmt.Sprintf("go run ./integration/bench -scale=%s -rounds=%d -seed=%d -fs=%s -bin=%s", scale, rounds, seed, fsKind, bin)
	if only != "" {
		cmd += " -only=" + only
	}
	if memory > 0 {
		cmd += fmt.Sprintf(" -memory=%d", memory)
	}
	if requests > 0 {
		cmd += fmt.Sprintf(" -requests=%d", requests)
	}
	return cmd
}

var started = time.Now()

// progress logs to stderr with the time since start.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func printFooter(w *os.File, b *bench, cmd string) {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(w, "\ncommand: %s\n", cmd)
	fmt.Fprintf(w, "Django %s (%s), %s, GOMAXPROCS=%d (1 in the decode loops), %d CPUs, kernel %s, %s\n",
		b.dj.Full, harness.SystemPython, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(),
		strings.TrimSpace(string(kernel)), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "sizes: %s, %s; rounds %d; sessionfs binary %s\n", b.sz, b.backend, b.rounds, b.bin)
	fmt.Fprintf(w, "files: %s\n", fsKinds[b.fsKind])
}
