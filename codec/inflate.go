package codec

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"sync"
)

// inflaters pools zlib readers: a new one allocates tens of KiB of window and
// tables, more than the rest of decoding a login session costs.
var inflaters sync.Pool

type inflater struct {
	src bytes.Reader
	zr  io.ReadCloser
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
	defer inflaters.Put(f)
	out := make([]byte, 0, min(max+1, int64(len(z))*4+512))
	limited := io.LimitReader(f.zr, max+1)
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := limited.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptZlib, err)
		}
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("%w: decompressed payload over %d bytes", ErrTooLarge, max)
	}
	return out, nil
}

func errorsIsTooLarge(err error) bool { return errors.Is(err, ErrTooLarge) }
