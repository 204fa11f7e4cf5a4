package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// decodeRows: rows 1 and 2, codec.Decode against Django 3.2's decode and
// against the floor, on sessions Django itself encoded (zlib-compressed where
// it shrinks them, as Django does).
func (b *bench) decodeRows() ([]row, error) {
	r := rand.New(rand.NewPCG(b.seed, 0xbe4c))
	loads := []struct {
		id, name string
		sessions []json.RawMessage
		faster   float64 // the target against Django
	}{
		{"1", "login (~200 B)", loginSessions(r, b.sz.login), 10},
		{"2", "64 KiB", largeSessions(r, b.sz.large, 64<<10), 5},
	}
	var rows []row
	for _, w := range loads {
		progress("decode %d %s sessions", len(w.sessions), w.name)
		texts, err := b.djangoEncode(w.sessions)
		if err != nil {
			return nil, err
		}
		django, err := b.djangoDecode(texts)
		if err != nil {
			return nil, err
		}
		ours, fl, err := b.goDecode(texts)
		if err != nil {
			return nil, err
		}
		what := fmt.Sprintf("decode %d sessions, %s", len(texts), w.name)
		rows = append(rows,
			row{id: w.id + "a", what: what, ours: ours, other: "Django 3.2 decode() loop", theirs: django, target: atLeastFaster(w.faster)},
			row{id: w.id + "b", what: what, ours: ours, other: "floor: HMAC-SHA256 + base64 + " + floorInflater, theirs: fl, target: atMostSlower(2)})
	}
	return rows, nil
}

// djangoEncode has Django 3.2 encode the sessions, so that both sides decode
// exactly what a site holds (zlib-compressed where it shrinks).
func (b *bench) djangoEncode(sessions []json.RawMessage) ([][]byte, error) {
	var texts []string
	if err := b.dj.Run(context.Background(), b.settings(""), harness.OpEncode, sessions, &texts); err != nil {
		return nil, err
	}
	out := make([][]byte, len(texts))
	for i, t := range texts {
		out[i] = []byte(t)
		// Checked before timing: every string decodes to what Django was given.
		got, _, err := b.codec.Decode(out[i])
		if err != nil {
			return nil, fmt.Errorf("session %d: codec.Decode: %w", i, err)
		}
		if same, where, err := harness.SameSession(got, sessions[i]); err != nil || !same {
			return nil, fmt.Errorf("session %d: codec.Decode differs from Django's data at %s (%v)", i, where, err)
		}
	}
	return out, nil
}

// djangoDecode is Django 3.2's SessionStore().decode loop, best of rounds.
func (b *bench) djangoDecode(texts [][]byte) (time.Duration, error) {
	req := harness.BenchRequest{Texts: make([]string, len(texts)), Rounds: b.rounds}
	for i, t := range texts {
		req.Texts[i] = string(t)
	}
	var res harness.BenchResult
	if err := b.dj.Run(context.Background(), b.settings(""), harness.OpBenchDecode, req, &res); err != nil {
		return 0, err
	}
	if res.Failures != 0 || res.N != len(texts) {
		return 0, fmt.Errorf("Django decoded %d of %d sessions to {}", res.Failures, res.N)
	}
	return seconds(res.Seconds), nil
}

// goDecode times codec.Decode and the floor over texts on one core, as
// Python runs on one.
func (b *bench) goDecode(texts [][]byte) (ours, fl time.Duration, err error) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stopProfile, err := startProfile()
	if err != nil {
		return 0, 0, err
	}
	ours, err = best(b.rounds, func() error {
		for i, t := range texts {
			if _, _, err := b.codec.Decode(t); err != nil {
				return fmt.Errorf("session %d: %w", i, err)
			}
		}
		return nil
	})
	stopProfile()
	if err != nil {
		return 0, 0, err
	}
	f := newFloor(secret)
	fl, err = best(b.rounds, func() error {
		for i, t := range texts {
			if !f.check(t) {
				return fmt.Errorf("floor: session %d does not verify", i)
			}
		}
		return nil
	})
	return ours, fl, err
}

// best runs f rounds times and returns the fastest run.
func best(rounds int, f func() error) (time.Duration, error) {
	var fastest time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		if d := time.Since(start); i == 0 || d < fastest {
			fastest = d
		}
	}
	return fastest, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// cpuProfile (-cpuprofile), when set, receives a CPU profile of the first
// workload's codec.Decode loop; the floor is not ours to profile.
var cpuProfile string

// startProfile starts that profile once and returns what stops it.
func startProfile() (stop func(), err error) {
	if cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(cpuProfile)
	if err != nil {
		return nil, err
	}
	cpuProfile = "" // a file holds one profile: the first workload's
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
