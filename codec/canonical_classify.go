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

// stringEnd checks the string whose opening quote is at in[pos] for
// ensure_ascii form and returns the index after its closing quote: through
// the bitmaps up to each special byte, which must start an escape
// (canonEscape), and byte by byte (canonStringFrom) where there are no
// bitmaps.
func (c *byteClasses) stringEnd(in []byte, pos int) (int, bool) {
	p := pos + 1
	for {
		end, special := c.plainFrom(p)
		if end != 0 {
			return end, true
		}
		if special < 0 {
			return canonStringFrom(in, p)
		}
		var ok bool
		if p, ok = canonEscape(in, special); !ok {
			return 0, false
		}
	}
}

// plainFrom looks for the closing quote of a string from in[p] on (p is
// inside the string). It returns the index after the quote if no special
// byte comes first; else 0 and the index of the first special byte, or -1
// when the bitmaps cannot tell (no closing quote, or no bitmaps).
func (c *byteClasses) plainFrom(p int) (end, special int) {
	i, sh := p>>6, uint(p)&63
	if i >= len(c.quotes) {
		return 0, -1
	}
	q, s := c.quotes[i]>>sh, c.specials[i]>>sh
	for {
		if q != 0 && s&(q&-q-1) == 0 { // a quote, and no special byte below it
			return p + bits.TrailingZeros64(q) + 1, 0
		}
		if s != 0 {
			return 0, p + bits.TrailingZeros64(s)
		}
		i++
		if i >= len(c.quotes) {
			return 0, -1
		}
		p = (p | 63) + 1 // the start of word i
		q, s = c.quotes[i], c.specials[i]
	}
}
