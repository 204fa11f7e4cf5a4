package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// cookieAge is Django's default SESSION_COOKIE_AGE, which gc and Django's
// clear_expired apply to the file mtime.
const cookieAge = 1209600 * time.Second

// population is a backing directory of sessions as Django 3.2 writes them
// (format signed, JSON). data and texts are kept only when asked for.
type population struct {
	dir     string
	keys    []string
	data    []json.RawMessage // the session data, compact JSON
	texts   [][]byte          // the file contents
	expired int
}

// populate writes n login sessions into dir with one writer per CPU. Each
// session's key and data come from its own seed, so the population is the
// same whatever the number of writers. With expireHalf the mtimes spread
// over the cookie age and every second session's lies past it; otherwise
// they are now. keep keeps data and texts.
func (b *bench) populate(dir string, n int, expireHalf, keep bool) (*population, error) {
	progress("writing %d sessions to %s", n, dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &population{dir: dir, keys: make([]string, n)}
	if keep {
		p.data, p.texts = make([]json.RawMessage, n), make([][]byte, n)
	}
	now := time.Now()
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n && errs[w] == nil; i += workers {
				errs[w] = b.writeSession(p, i, now, expireHalf)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if expireHalf {
		p.expired = n / 2
	}
	return p, nil
}

const keyChars = "abcdefghijklmnopqrstuvwxyz0123456789"

func (b *bench) writeSession(p *population, i int, now time.Time, expireHalf bool) error {
	r := rand.New(rand.NewPCG(b.seed, uint64(i)))
	// 24 random characters and the index in base 36: valid for Django
	// (lowercase and digits), and unique without a lookup.
	key := make([]byte, 0, 32)
	for range 24 {
		key = append(key, keyChars[r.IntN(len(keyChars))])
	}
	id := base36(i)
	key = append(key, strings.Repeat("0", 8-len(id))+id...)
	data := loginSession(r)
	text, err := b.codec.Encode(data, codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerJSON})
	if err != nil {
		return err
	}
	path := filepath.Join(p.dir, "sessionid"+string(key))
	if err := os.WriteFile(path, text, 0o600); err != nil {
		return err
	}
	if expireHalf { // mtimes spread over the cookie age, half of them past it
		mtime := now.Add(-time.Duration(r.Int64N(int64(cookieAge - time.Hour))))
		if i%2 == 1 {
			mtime = now.Add(-cookieAge - time.Hour - time.Duration(r.Int64N(int64(cookieAge))))
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			return err
		}
	}
	p.keys[i] = string(key)
	if p.data != nil {
		p.data[i], p.texts[i] = data, text
	}
	return nil
}

func base36(i int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	s := []byte{}
	for {
		s = append([]byte{digits[i%36]}, s...)
		if i /= 36; i == 0 {
			return string(s)
		}
	}
}

// copyDir copies every file of src into dst, keeping mtimes, so that two
// contenders can each change their own identical copy.
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

// names lists a directory's entries as a set.
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
