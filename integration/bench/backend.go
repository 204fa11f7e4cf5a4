package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "embed"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
)

// backendSizes are the session counts of the database and cache sections.
type backendSizes struct {
	db     int // PostgreSQL and SQLite sessions listed and revoked
	dbBig  int // PostgreSQL sessions listed for the memory ceiling, half of them collected
	cache  int // Redis sessions listed and revoked
	cacheB int // Redis sessions listed for the memory ceiling
}

func (s backendSizes) String() string {
	return fmt.Sprintf("db %d, db memory and gc %d, cache %d, cache memory %d", s.db, s.dbBig, s.cache, s.cacheB)
}

var backendFull = backendSizes{100_000, 1_000_000, 100_000, 1_000_000}

var backendScales = map[string]backendSizes{
	"full":  backendFull,
	"small": divideBackend(50),
	"tiny":  divideBackend(1000),
}

func divideBackend(by int) backendSizes {
	f := backendFull
	d := func(n int) int { return max(2, n/by) }
	return backendSizes{d(f.db), d(f.dbBig), d(f.cache), d(f.cacheB)}
}

// revokeUser is the user whose sessions the revoke rows remove: every
// revokeEvery-th generated session is theirs (other user ids are drawn
// from 0..999999, which this one is above).
const (
	revokeUser  = "4242424"
	revokeEvery = 1000
)

// genSession is session i of a database or cache population: a login
// session from its own seed (so the population does not depend on the
// number of writers) under a key Django could have made.
func (b *bench) genSession(i int) (key string, data json.RawMessage) {
	r := rand.New(rand.NewPCG(b.seed^0xbac0e4d, uint64(i)))
	k := make([]byte, 0, 32)
	for range 24 {
		k = append(k, keyChars[r.IntN(len(keyChars))])
	}
	id := base36(i)
	k = append(k, strings.Repeat("0", 8-len(id))+id...)
	data = loginSession(r)
	if i%revokeEvery == 0 {
		const field = `{"_auth_user_id":"`
		end := bytes.IndexByte(data[len(field):], '"') + len(field)
		data = append(json.RawMessage(field+revokeUser), data[end:]...)
	}
	return string(k), data
}

// signed is session data as Django 3.2's database backend stores it in
// session_data (and its file backend in a file): signed JSON.
func (b *bench) signed(data []byte) (string, error) {
	text, err := b.codec.Encode(data, codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerJSON})
	return string(text), err
}

// generated is one session of a population, encoded for its backend.
type generated struct {
	key   string
	value []byte    // session_data, or the cache value
	when  time.Time // expire_date (databases); the cache TTL is counted from now
}

// generate makes sessions 0..n-1 with one worker per CPU and hands them to
// sink in chunks, in no particular order, from one goroutine at a time.
// encode makes the stored value; every session expires in the cookie age.
func (b *bench) generate(n int, encode func([]byte) ([]byte, error), sink func([]generated) error) error {
	const chunk = 5000
	now := time.Now()
	jobs := make(chan int)
	out := make(chan []generated, runtime.NumCPU())
	var failed sync.Once
	var genErr error
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range jobs {
				batch := make([]generated, 0, chunk)
				for i := start; i < min(n, start+chunk); i++ {
					key, data := b.genSession(i)
					value, err := encode(data)
					if err != nil {
						failed.Do(func() { genErr = fmt.Errorf("encoding session %d: %w", i, err) })
						break
					}
					batch = append(batch, generated{key, value, now.Add(cookieAge)})
				}
				out <- batch
			}
		}()
	}
	go func() {
		for start := 0; start < n; start += chunk {
			jobs <- start
		}
		close(jobs)
		wg.Wait()
		close(out)
	}()
	var sinkErr error
	for batch := range out {
		if sinkErr == nil {
			sinkErr = sink(batch)
		}
	}
	if genErr != nil {
		return genErr
	}
	return sinkErr
}

// writeFiles writes the same n sessions as session files, for the file
// backend's rows beside the database's.
func (b *bench) writeFiles(dir string, n int) error {
	progress("writing %d session files to %s", n, dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	encode := func(data []byte) ([]byte, error) {
		s, err := b.signed(data)
		return []byte(s), err
	}
	return b.generate(n, encode, func(batch []generated) error {
		for _, g := range batch {
			if err := os.WriteFile(filepath.Join(dir, "sessionid"+g.key), g.value, 0o600); err != nil {
				return err
			}
		}
		return nil
	})
}

//go:embed djbackend.py
var djbackendPy string

// djangoBackendReq is what djbackend.py reads.
type djangoBackendReq struct {
	Op        string         `json:"op"`
	SecretKey string         `json:"secret_key"`
	Database  map[string]any `json:"database,omitempty"`
	Cache     map[string]any `json:"cache,omitempty"`
	User      string         `json:"user,omitempty"`
}

// runDjangoBackend runs one op of djbackend.py with Django 3.2 and returns
// its loop's time and the number of sessions it saw or removed.
func (b *bench) runDjangoBackend(req djangoBackendReq) (time.Duration, int, error) {
	req.SecretKey = secret
	in, err := json.Marshal(req)
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(harness.SystemPython, "-c", djbackendPy)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("djbackend.py %s: %w\n%s", req.Op, err, stderr.Bytes())
	}
	var out struct {
		Seconds float64 `json:"seconds"`
		N       int     `json:"n"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return 0, 0, fmt.Errorf("djbackend.py %s: bad answer %.200q: %w", req.Op, stdout.Bytes(), err)
	}
	return seconds(out.Seconds), out.N, nil
}

// revokeCount is how many of n generated sessions belong to revokeUser.
func revokeCount(n int) int { return (n + revokeEvery - 1) / revokeEvery }
