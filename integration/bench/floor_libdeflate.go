//go:build cgo && !without_libdeflate

package main

/*
#cgo LDFLAGS: -ldeflate
#include <libdeflate.h>
*/
import "C"

import "unsafe"

// floorInflater is the fastest zlib inflater measured (codec's README
// table): libdeflate, called directly, into a buffer the floor keeps.
const floorInflater = "libdeflate"

type inflaterFloor struct {
	d *C.struct_libdeflate_decompressor
	n C.size_t
}

func newInflaterFloor() *inflaterFloor {
	return &inflaterFloor{d: C.libdeflate_alloc_decompressor()}
}

// inflate decompresses z into *out, growing it while it is too small.
func (f *inflaterFloor) inflate(z []byte, out *[]byte) bool {
	if len(z) == 0 {
		return false
	}
	for {
		if len(*out) == 0 {
			*out = make([]byte, 64<<10)
		}
		switch C.libdeflate_zlib_decompress(f.d, unsafe.Pointer(&z[0]), C.size_t(len(z)),
			unsafe.Pointer(&(*out)[0]), C.size_t(len(*out)), &f.n) {
		case C.LIBDEFLATE_SUCCESS:
			return true
		case C.LIBDEFLATE_INSUFFICIENT_SPACE:
			*out = make([]byte, 2*len(*out))
		default:
			return false
		}
	}
}
