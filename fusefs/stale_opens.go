package fusefs

import (
	"sync"
	"time"
)

// staleOpens remembers the opens refused with ESTALE because the name led
// to a version node older than the store's session (sessionNode.cacheIfSealed).
// The kernel retries such an open once, after looking the name up again;
// the retry must not be refused again, whatever Django saved meanwhile.
type staleOpens struct {
	mu sync.Mutex
	at map[staleOpen]time.Time
}

type staleOpen struct {
	proc procID
	key  string
}

// staleRetryWindow bounds how long a refusal waits for its retry: the
// kernel retries at once, and a later open of the process is a new one.
const staleRetryWindow = time.Second

// refuse reports whether an open of key by proc may be refused with ESTALE
// (and records it), or is the retry of one that was (and forgets it).
func (s *staleOpens) refuse(proc procID, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	k := staleOpen{proc, key}
	if t, ok := s.at[k]; ok && now.Sub(t) < staleRetryWindow {
		delete(s.at, k)
		return false
	}
	if s.at == nil {
		s.at = map[staleOpen]time.Time{}
	}
	for o, t := range s.at {
		if now.Sub(t) >= staleRetryWindow {
			delete(s.at, o)
		}
	}
	s.at[k] = now
	return true
}
