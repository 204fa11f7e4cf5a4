package jsonbits

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestClassify: this machine's Classify (SIMD where the CPU has it) marks
// the same bytes as Generic, for every byte value at every
// position of a word.
func TestClassify(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(in []byte) {
		t.Helper()
		nw := len(in) >> 6
		q1, s1 := make([]uint64, nw), make([]uint64, nw)
		q2, s2 := make([]uint64, nw), make([]uint64, nw)
		Classify(in, q1, s1)
		Generic(in, q2, s2)
		for w := range nw {
			if q1[w] != q2[w] || s1[w] != s2[w] {
				t.Fatalf("word %d of %q: quotes %064b specials %064b, want %064b %064b", w, in[w<<6:w<<6+64], q1[w], s1[w], q2[w], s2[w])
			}
		}
	}
	for b := range 256 {
		for pos := range 64 {
			in := bytes.Repeat([]byte("a"), 128)
			in[pos], in[64+63-pos] = byte(b), byte(b)
			check(in)
		}
	}
	for range 1000 {
		in := make([]byte, 64*(1+r.IntN(8)))
		for i := range in {
			in[i] = `"\ a{}:,`[r.IntN(8)]
			if r.IntN(10) == 0 {
				in[i] = byte(r.IntN(256))
			}
		}
		check(in)
	}
}
