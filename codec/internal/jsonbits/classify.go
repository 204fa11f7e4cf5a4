// Package jsonbits classifies JSON text into bitmaps, a bit per byte, with
// SIMD instructions where the CPU has them. It holds the assembly codec
// cannot: a package that uses cgo cannot hold Go assembly.
package jsonbits

// Generic is Classify one byte at a time: the reference the SIMD version is
// tested against, and the fallback without it.
func Generic(in []byte, quotes, specials []uint64) {
	for w := range len(in) >> 6 {
		var q, s uint64
		for i, ch := range in[w<<6 : w<<6+64] {
			if ch == '"' {
				q |= 1 << i
			}
			if ch == '\\' || ch < 0x20 || ch >= 0x7f {
				s |= 1 << i
			}
		}
		quotes[w], specials[w] = q, s
	}
}
