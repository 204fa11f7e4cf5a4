//go:build !amd64

package jsonbits

// Classify: see classify_amd64.go.
func Classify(in []byte, quotes, specials []uint64) { Generic(in, quotes, specials) }
