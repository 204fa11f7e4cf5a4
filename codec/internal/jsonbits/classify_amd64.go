package jsonbits

import "golang.org/x/sys/cpu"

// classifyAVX2 is classify for len(in) a multiple of 64, 64 bytes a loop.
//
//go:noescape
func classifyAVX2(in *byte, n int, quotes, specials *uint64)

// Classify sets bit i%64 of quotes[i/64] for each byte in[i] that is '"',
// and of specials[i/64] for each that is '\\' or outside ' '..'~' (what a
// plain JSON string character in Python's ensure_ascii form is not).
// len(in) is a multiple of 64; quotes and specials hold len(in)/64 words.
func Classify(in []byte, quotes, specials []uint64) {
	if len(in) == 0 {
		return
	}
	if !cpu.X86.HasAVX2 {
		Generic(in, quotes, specials)
		return
	}
	nw := len(in) >> 6
	_, _ = quotes[nw-1], specials[nw-1]
	classifyAVX2(&in[0], len(in), &quotes[0], &specials[0])
}
