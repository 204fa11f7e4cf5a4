package codec

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// django-redis compressors, each bounded: no output beyond the limit is ever
// produced, and no decoder state larger than the format needs for a value
// within the limit is allocated.

type decompressor struct {
	c     Compressor
	limit int64

	zstdOnce sync.Once
	zstd     *zstd.Decoder
	zstdErr  error
}

func newDecompressor(c Compressor, limit int64) *decompressor {
	return &decompressor{c: c, limit: limit}
}

// maxXZDict bounds the dictionary an .xz header may ask for: lzma.compress
// presets use 256 KiB to 64 MiB (django-redis: preset 4, 4 MiB), and the
// decoder allocates the whole dictionary up front.
const maxXZDict = 64 << 20

func (d *decompressor) decompress(z []byte) ([]byte, error) {
	switch d.c {
	case CompressZlib:
		return inflate(z, d.limit)
	case CompressGzip:
		r, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, err
		}
		return readLimited(r, d.limit)
	case CompressLZMA:
		if err := checkXZDict(z); err != nil {
			return nil, err
		}
		r, err := xz.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, err
		}
		return readLimited(r, d.limit)
	case CompressLZ4:
		if !bytes.HasPrefix(z, []byte{0x04, 0x22, 0x4d, 0x18}) {
			return nil, errors.New("no LZ4 frame magic")
		}
		return readLimited(lz4.NewReader(bytes.NewReader(z)), d.limit)
	case CompressZstd:
		d.zstdOnce.Do(func() {
			d.zstd, d.zstdErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(uint64(d.limit)+1), zstd.WithDecoderMaxWindow(uint64(max(d.limit, 1<<20))))
		})
		if d.zstdErr != nil {
			return nil, d.zstdErr
		}
		out, err := d.zstd.DecodeAll(z, nil)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || int64(len(out)) > d.limit {
			return nil, fmt.Errorf("%w: decompressed value over %d bytes", ErrTooLarge, d.limit)
		}
		return out, err
	}
	return z, nil
}

// readLimited reads all of r, refusing more than limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%w: decompressed value over %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}

// checkXZDict reads the LZMA2 dictionary size from the first block header of
// an .xz stream (stream header, then block header: size, flags, optional
// sizes, filter flags) and refuses one over maxXZDict.
func checkXZDict(z []byte) error {
	if !bytes.HasPrefix(z, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) || len(z) < 12+2 {
		return errors.New("no xz stream header")
	}
	b := z[12:]
	size := (int(b[0]) + 1) * 4
	if b[0] == 0 || len(b) < size {
		return errors.New("xz block header truncated")
	}
	hdr := b[1:size]
	flags := hdr[0]
	hdr = hdr[1:]
	filters := int(flags&3) + 1
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} {
		if present {
			_, n := binary.Uvarint(hdr)
			if n <= 0 {
				return errors.New("xz block header: bad size field")
			}
			hdr = hdr[n:]
		}
	}
	for i := 0; i < filters; i++ {
		id, n := binary.Uvarint(hdr)
		if n <= 0 {
			return errors.New("xz block header: bad filter id")
		}
		hdr = hdr[n:]
		plen, n := binary.Uvarint(hdr)
		if n <= 0 || uint64(len(hdr)-n) < plen {
			return errors.New("xz block header: bad filter properties")
		}
		props := hdr[n : n+int(plen)]
		hdr = hdr[n+int(plen):]
		if id == 0x21 { // LZMA2
			if len(props) != 1 || props[0] > 40 {
				return errors.New("xz: bad LZMA2 properties")
			}
			p := props[0]
			dict := uint64(2|p&1) << (p/2 + 11)
			if p == 40 {
				dict = 1<<32 - 1
			}
			if dict > maxXZDict {
				return fmt.Errorf("%w: xz dictionary of %d bytes (limit %d)", ErrTooLarge, dict, maxXZDict)
			}
		}
	}
	return nil
}

// compressWith is what django-redis's compressors write: zlib.compress at
// level 6, gzip.compress, lzma.compress(preset=4) as .xz, an LZ4 frame, a
// Zstandard frame. The bytes differ from Python's; every one of its readers
// accepts them.
func compressWith(c Compressor, p []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch c {
	case CompressZlib:
		return compress(p), nil
	case CompressGzip:
		w = gzip.NewWriter(&buf)
	case CompressLZMA:
		w, err = xz.WriterConfig{DictCap: 4 << 20, CheckSum: xz.CRC64}.NewWriter(&buf)
	case CompressLZ4:
		w = lz4.NewWriter(&buf)
	case CompressZstd:
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	default:
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(p); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
