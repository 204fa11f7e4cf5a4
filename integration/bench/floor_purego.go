//go:build !cgo || without_libdeflate

package main

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/zlib"
)

// floorInflater is the fastest zlib inflater of a pure-Go build (codec's
// README table), reset on every payload, into a buffer the floor keeps.
const floorInflater = "klauspost/compress/zlib"

type inflaterFloor struct {
	src bytes.Reader
	zr  io.ReadCloser
}

func newInflaterFloor() *inflaterFloor { return &inflaterFloor{} }

// inflate decompresses z into *out.
func (f *inflaterFloor) inflate(z []byte, out *[]byte) bool {
	f.src.Reset(z)
	var err error
	if f.zr == nil {
		f.zr, err = zlib.NewReader(&f.src)
	} else {
		err = f.zr.(zlib.Resetter).Reset(&f.src, nil)
	}
	if err != nil {
		f.zr = nil
		return false
	}
	buf := bytes.NewBuffer((*out)[:0])
	_, err = buf.ReadFrom(f.zr)
	*out = buf.Bytes()[:cap(buf.Bytes())]
	return err == nil
}
