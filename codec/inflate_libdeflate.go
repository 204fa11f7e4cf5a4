//go:build cgo && !without_libdeflate

package codec

/*
#cgo LDFLAGS: -ldeflate
#include <libdeflate.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Inflater names the zlib decompressor this build uses.
const Inflater = "libdeflate " + C.LIBDEFLATE_VERSION_STRING + " (cgo)"

// inflaters pools libdeflate decompressors with their scratch output buffer.
// A decompressor is a C allocation of a few KiB of tables; the cleanup frees
// it when the pool drops its holder.
var inflaters = sync.Pool{New: func() any {
	d := C.libdeflate_alloc_decompressor()
	if d == nil {
		return nil
	}
	f := &inflater{d: d}
	runtime.AddCleanup(f, func(d *C.struct_libdeflate_decompressor) { C.libdeflate_free_decompressor(d) }, d)
	return f
}}

type inflater struct {
	d       *C.struct_libdeflate_decompressor
	n       C.size_t // the decompressed size libdeflate reports
	scratch []byte   // output is inflated here, then copied out at its exact size or handed over (takeOrCopy)
}

// inflate decompresses a zlib stream (header checks, DEFLATE, Adler-32),
// refusing output beyond max bytes. libdeflate inflates whole buffers: the
// output buffer starts at a guess and doubles while libdeflate reports it
// too small, up to limit bytes, so a bomb costs at most ~2·limit bytes of
// work and limit bytes of memory before it is refused.
func inflate(z []byte, limit int64) ([]byte, error) {
	if len(z) == 0 {
		return nil, fmt.Errorf("%w: empty zlib stream", ErrCorruptZlib)
	}
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		return nil, errors.New("libdeflate: cannot allocate a decompressor")
	}
	defer func() {
		if cap(f.scratch) > scratchKeep {
			f.scratch = nil
		}
		inflaters.Put(f)
	}()
	size := min(limit, int64(max(cap(f.scratch), len(z)*4+512)))
	for {
		if int64(cap(f.scratch)) < max(size, 1) {
			f.scratch = make([]byte, max(size, 1))
		}
		out := f.scratch[:cap(f.scratch)]
		r := C.libdeflate_zlib_decompress(f.d, unsafe.Pointer(&z[0]), C.size_t(len(z)),
			unsafe.Pointer(&out[0]), C.size_t(size), &f.n)
		switch r {
		case C.LIBDEFLATE_SUCCESS:
			return takeOrCopy(&f.scratch, out[:f.n]), nil
		case C.LIBDEFLATE_INSUFFICIENT_SPACE:
			if size >= limit {
				return nil, fmt.Errorf("%w: decompressed payload over %d bytes", ErrTooLarge, limit)
			}
			size = min(2*size, limit)
		default:
			return nil, fmt.Errorf("%w: invalid zlib stream (header, DEFLATE data or Adler-32 checksum)", ErrCorruptZlib)
		}
	}
}
