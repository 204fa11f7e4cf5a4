//go:build !cgo || without_libdeflate

package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// Inflater names the zlib decompressor this build uses.
const Inflater = "klauspost/compress/zlib (pure Go)"

// inflaters pools zlib readers with their scratch output buffer: a new
// reader allocates tens of KiB of window and tables, more than the rest of
// decoding a login session costs. Reset keeps the window (it is not zeroed)
// and, because the source is a *bytes.Reader, flate reads it directly
// instead of wrapping it in a bufio.Reader.
var inflaters sync.Pool

type inflater struct {
	src     bytes.Reader
	zr      io.ReadCloser
	limited io.LimitedReader
	scratch []byte // output is inflated here, then copied out at its exact size
}

// inflate decompresses a zlib stream, refusing output beyond max bytes: the
// reader is capped at max+1, so a bomb costs at most ~max bytes of memory.
func inflate(z []byte, max int64) ([]byte, error) {
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = &inflater{}
	}
	f.src.Reset(z)
	var err error
	if f.zr == nil {
		f.zr, err = zlib.NewReader(&f.src)
	} else {
		err = f.zr.(zlib.Resetter).Reset(&f.src, nil)
	}
	if err != nil {
		f.zr = nil // a failed reader is not reusable
		inflaters.Put(f)
		return nil, fmt.Errorf("%w: %v", ErrCorruptZlib, err)
	}
	defer func() {
		if cap(f.scratch) > scratchKeep {
			f.scratch = nil
		}
		f.src.Reset(nil) // do not pin the caller's input
		inflaters.Put(f)
	}()
	f.limited = io.LimitedReader{R: f.zr, N: max + 1}
	out := f.scratch[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, min(max+1, int64(len(z))*4+512))
	}
	for {
		if len(out) == cap(out) {
			// Doubling, not append's gentler growth: a large payload then
			// costs about twice its size in buffers, not several times.
			size := min(2*int64(cap(out)), max+1)
			if size <= int64(cap(out)) {
				size = int64(cap(out)) + 1
			}
			grown := make([]byte, len(out), size)
			copy(grown, out)
			out = grown
		}
		n, err := f.limited.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.scratch = out
			return nil, fmt.Errorf("%w: %v", ErrCorruptZlib, err)
		}
	}
	f.scratch = out
	if int64(len(out)) > max {
		return nil, fmt.Errorf("%w: decompressed payload over %d bytes", ErrTooLarge, max)
	}
	return takeOrCopy(&f.scratch, out), nil
}
