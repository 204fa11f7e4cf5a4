package codec

import (
	"bytes"
	"sync"
	"testing"
)

// TestConcurrentUse shares one Codec between goroutines (run with -race): the
// pooled HMAC states and zlib readers/writers must not leak between calls.
func TestConcurrentUse(t *testing.T) {
	c := mustNew(t, Config{SecretKey: []byte(testSecret), FallbackKeys: [][]byte{[]byte("old")}})
	old := mustNew(t, Config{SecretKey: []byte("old")})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				js := []byte(`{"g":` + string(rune('0'+g)) + `,"i":"` + string(bytes.Repeat([]byte("ab"), i*10)) + `"}`)
				signer := c
				if i%2 == 1 {
					signer = old
				}
				out, err := signer.Encode(js, EncodeOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				back, info, err := c.Decode(out)
				if err != nil || !bytes.Equal(back, js) || info.KeyIndex != i%2 {
					t.Errorf("goroutine %d round %d: %v key %d\n got %s\nwant %s", g, i, err, info.KeyIndex, back, js)
					return
				}
			}
		}()
	}
	wg.Wait()
}
