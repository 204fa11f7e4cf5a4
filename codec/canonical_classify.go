package codec

import (
	"math/bits"
	"sync"

	"github.com/sessionfs/sessionfs/codec/internal/jsonbits"
)

// byteClasses holds, for JSON text, a bit per byte (bit i%64 of word i/64)
// in two bitmaps: quotes marks '"', specials marks what a plain string
// character is not: '\\', and bytes outside ' '..'~'. Strings are skipped
// through them with a few bit operations each, instead of a loop over
// their bytes.
type byteClasses struct {
	quotes, specials []uint64
}

// classesInline is the input size classified into bitmaps on the stack;
// classesMin the size below which classifying costs more than it saves.
const classesInline, classesMin = 1024, 512

var classesPool sync.Pool // *[]uint64, 2 bitmaps' worth for larger inputs

// classifyText classifies in into words, which holds both bitmaps
// ((len(in)+63)/64 words each). Bytes after the end of in count as plain.
func classifyText(in []byte, words []uint64) byteClasses {
	nw := (len(in) + 63) >> 6
	c := byteClasses{quotes: words[:nw:nw], specials: words[nw : 2*nw : 2*nw]}
	full := len(in) &^ 63
	jsonbits.Classify(in[:full], c.quotes, c.specials)
	if full < len(in) {
		var tail [64]byte
		for i := range tail {
			tail[i] = ' '
		}
		copy(tail[:], in[full:])
		jsonbits.Classify(tail[:], c.quotes[nw-1:], c.specials[nw-1:])
	}
	return c
}

// plainString returns the index after the closing quote of the string
// whose opening quote is at pos when no special byte comes first. Else it
// returns 0 and where canonStringFrom is to check the rest byte by byte:
// the first special byte, or the string's start when the bitmaps cannot
// tell (no closing quote, or no bitmaps).
func (c *byteClasses) plainString(pos int) (end, from int) {
	pos++
	start := pos
	i, sh := pos>>6, uint(pos)&63
	if i >= len(c.quotes) {
		return 0, start
	}
	q, s := c.quotes[i]>>sh, c.specials[i]>>sh
	for {
		if q != 0 {
			t := bits.TrailingZeros64(q)
			if s&(1<<t-1) != 0 {
				return 0, pos + bits.TrailingZeros64(s)
			}
			return pos + t + 1, 0
		}
		if s != 0 {
			return 0, pos + bits.TrailingZeros64(s)
		}
		i++
		if i >= len(c.quotes) {
			return 0, start
		}
		pos = (pos | 63) + 1 // the start of word i
		q, s = c.quotes[i], c.specials[i]
	}
}
