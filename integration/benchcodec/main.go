// Command benchcodec compares session decoding speed, per core: real
// Django 3.2's SessionStore().decode (in CPython), sessionfs's codec.Decode,
// and the floor — the HMAC-SHA256 check and base64 decoding alone.
//
//	go run ./integration/benchcodec            # what `make bench-codec` runs
//	go run ./integration/benchcodec -n 2000 -large 100 -rounds 2
//
// Django 3.2 encodes the sessions (so they are exactly what a site holds);
// both sides then decode the same strings. Only the decode loops are timed,
// each the best of -rounds, with GOMAXPROCS=1 (Python is single-threaded).
// Targets (issue 2): sessionfs ≥ 10× Django's throughput, ≤ 2× the floor.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
)

// cpuProfile, when set, is where the sessionfs loops' CPU profile goes.
var (
	cpuProfile string
	profiling  *os.File // open profile file; only the first workload is profiled
)

// Targets from issue 2.
const (
	targetVsDjango = 10.0
	targetVsFloor  = 2.0
	secret         = "bench-codec-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
)

func main() {
	n := flag.Int("n", 10_000, "number of login-like sessions (~200 bytes of data)")
	large := flag.Int("large", 500, "number of 64 KiB sessions (0 skips them)")
	rounds := flag.Int("rounds", 3, "timed rounds per contender; the best counts")
	seed := flag.Uint64("seed", 1, "random seed of the generated sessions")
	check := flag.Bool("check", false, "exit 1 when a target is missed")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the sessionfs decode loops to this file")
	flag.Parse()
	if err := run(*n, *large, *rounds, *seed, *check); err != nil {
		slog.Error("bench-codec failed", "err", err)
		os.Exit(1)
	}
}

type workload struct {
	name     string
	sessions []json.RawMessage
}

type result struct {
	workload
	dataBytes, encodedBytes int // averages
	compressed              int // sessions Django stored compressed
	django, ours, floor     time.Duration
}

func run(n, large, rounds int, seed uint64, check bool) error {
	runtime.GOMAXPROCS(1)
	dj, err := harness.FindDjango("3.2")
	if err != nil {
		return fmt.Errorf("Django 3.2 (install with: %s): %w", harness.InstallHint, err)
	}
	c, err := codec.New(codec.Config{SecretKey: []byte(secret)})
	if err != nil {
		return fmt.Errorf("codec: %w", err)
	}
	r := rand.New(rand.NewPCG(seed, 0xbe4c))
	loads := []workload{{"login (~200 B)", loginSessions(r, n)}}
	if large > 0 {
		loads = append(loads, workload{"64 KiB", largeSessions(r, large, 64<<10)})
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		profiling = f
	}
	var results []result
	for _, w := range loads {
		res, err := measure(dj, c, w, rounds)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		results = append(results, res)
	}
	missed := report(os.Stdout, dj, results)
	if check && missed {
		return fmt.Errorf("a target was missed")
	}
	return nil
}

func measure(dj *harness.Django, c *codec.Codec, w workload, rounds int) (result, error) {
	res := result{workload: w}
	ctx := context.Background()
	settings := harness.Settings{SecretKey: secret}
	var texts []string
	if err := dj.Run(ctx, settings, harness.OpEncode, w.sessions, &texts); err != nil {
		return res, err
	}
	encoded := make([][]byte, len(texts))
	for i, t := range texts {
		encoded[i] = []byte(t)
		res.dataBytes += len(w.sessions[i])
		res.encodedBytes += len(t)
		if strings.HasPrefix(t, ".") {
			res.compressed++
		}
		// Check before timing: every string decodes to what Django was given.
		got, _, err := c.Decode(encoded[i])
		if err != nil {
			return res, fmt.Errorf("session %d: codec.Decode: %w", i, err)
		}
		if same, where, err := harness.SameSession(got, w.sessions[i]); err != nil || !same {
			return res, fmt.Errorf("session %d: codec.Decode differs from Django's data at %s (%v)", i, where, err)
		}
	}
	res.dataBytes /= len(texts)
	res.encodedBytes /= len(texts)

	var py harness.BenchResult
	if err := dj.Run(ctx, settings, harness.OpBenchDecode, harness.BenchRequest{Texts: texts, Rounds: rounds}, &py); err != nil {
		return res, err
	}
	if py.Failures != 0 || py.N != len(texts) {
		return res, fmt.Errorf("django decoded %d of %d sessions to {}", py.Failures, py.N)
	}
	res.django = time.Duration(py.Seconds * float64(time.Second))

	if profiling != nil {
		if err := pprof.StartCPUProfile(profiling); err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
		profiling = nil // a file holds one profile: the first workload's
		defer pprof.StopCPUProfile()
	}
	res.ours = best(rounds, func() error {
		for i, e := range encoded {
			if _, _, err := c.Decode(e); err != nil {
				return fmt.Errorf("session %d: %w", i, err)
			}
		}
		return nil
	})
	pprof.StopCPUProfile() // the floor is not ours to profile (no-op when not profiling)
	f := newFloor(secret)
	res.floor = best(rounds, func() error {
		for i, e := range encoded {
			if !f.check(e) {
				return fmt.Errorf("floor: session %d does not verify", i)
			}
		}
		return nil
	})
	return res, nil
}

// best runs loop rounds times and returns the fastest run; an error panics
// (it was checked before timing, so it means a bug here).
func best(rounds int, loop func() error) time.Duration {
	var fastest time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		if err := loop(); err != nil {
			panic(err)
		}
		if d := time.Since(start); i == 0 || d < fastest {
			fastest = d
		}
	}
	return fastest
}

// floor is the least any format-C decoder must do: HMAC-SHA256 over
// payload:timestamp, compare the base64 text of the signature, base64-decode
// the payload. No zlib, no JSON, no allocation per call.
type floor struct {
	mac     hash.Hash
	sum     []byte
	sig     []byte
	payload []byte
}

func newFloor(secret string) *floor {
	key := sha256.Sum256([]byte(codec.DefaultKeySalt + "signer" + secret))
	return &floor{mac: hmac.New(sha256.New, key[:]), sum: make([]byte, 0, 32), sig: make([]byte, 43)}
}

func (f *floor) check(s []byte) bool {
	i := bytes.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	value, sig := s[:i], s[i+1:]
	f.mac.Reset()
	f.mac.Write(value)
	f.sum = f.mac.Sum(f.sum[:0])
	base64.RawURLEncoding.Encode(f.sig, f.sum)
	if subtle.ConstantTimeCompare(f.sig, sig) != 1 {
		return false
	}
	j := bytes.LastIndexByte(value, ':')
	payload := bytes.TrimPrefix(value[:j], []byte("."))
	if need := base64.RawURLEncoding.DecodedLen(len(payload)); cap(f.payload) < need {
		f.payload = make([]byte, need)
	}
	_, err := base64.RawURLEncoding.Decode(f.payload[:cap(f.payload)], payload)
	return err == nil
}

func perOp(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }

// report prints the table and says whether any target was missed.
func report(out *os.File, dj *harness.Django, results []result) (missed bool) {
	fmt.Fprintf(out, "bench-codec: Django %s (%s) SessionStore().decode vs sessionfs codec.Decode, one core (%s, %s/%s)\n\n",
		dj.Full, dj.Python, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tsessions\tdata B\tencoded B\tzlib\tDjango µs/op\tsessionfs µs/op\tfloor µs/op\tDjango/sessionfs\tsessionfs/floor\t")
	for _, r := range results {
		n := len(r.sessions)
		dj, ours, fl := perOp(r.django, n), perOp(r.ours, n), perOp(r.floor, n)
		vsDjango, vsFloor := dj/ours, ours/fl
		mark := func(ok bool) string {
			if ok {
				return ""
			}
			missed = true
			return " (miss)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d/%d\t%.2f\t%.2f\t%.2f\t%.1f×%s\t%.2f×%s\t\n", r.name, n, r.dataBytes, r.encodedBytes,
			r.compressed, n, dj, ours, fl, vsDjango, mark(vsDjango >= targetVsDjango), vsFloor, mark(vsFloor <= targetVsFloor))
	}
	tw.Flush()
	fmt.Fprintf(out, "\ntargets: Django/sessionfs ≥ %.0f×, sessionfs/floor ≤ %.0f× (per core; floor = HMAC-SHA256 + base64 only)\n",
		targetVsDjango, targetVsFloor)
	return missed
}
