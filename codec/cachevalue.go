package codec

import (
	"bytes"
	"fmt"
	"strings"
)

// Cache values. Django's cache session backend hands the session dict itself
// to the cache, and the cache client pickles it: no signature, no
// SESSION_SERIALIZER, nothing but a pickle, perhaps compressed (Django's
// django/contrib/sessions/backends/cache.py calls cache.set with the dict;
// the client pickles it). CacheCodec reads such a value
// the way the site's client does and writes one the way it would, with the
// same restricted pickle writer as every other pickle sessionfs writes.

// CacheClient is the Django cache backend (CACHES[...]["BACKEND"]) that
// stores the sessions: it decides the bytes around the pickle.
type CacheClient int

const (
	// ClientRedisCache is Django's own django.core.cache.backends.redis.RedisCache
	// (Django 4.0+): pickle protocol 5 (HIGHEST_PROTOCOL), ints as digits.
	ClientRedisCache CacheClient = iota + 1
	// ClientDjangoRedis is django_redis.cache.RedisCache with its default
	// PickleSerializer: pickle.DEFAULT_PROTOCOL (4), ints as digits, and the
	// configured COMPRESSOR.
	ClientDjangoRedis
	// ClientMemcached is any of Django's memcached backends (PyMemcacheCache,
	// PyLibMCCache, MemcachedCache): pickle protocol 5 with flags 1.
	ClientMemcached
)

var clientNames = map[CacheClient]string{
	ClientRedisCache:  "django.core.cache.backends.redis.RedisCache",
	ClientDjangoRedis: "django_redis.cache.RedisCache",
	ClientMemcached:   "django.core.cache.backends.memcached.PyMemcacheCache",
}

func (c CacheClient) String() string {
	if s, ok := clientNames[c]; ok {
		return s
	}
	return fmt.Sprintf("CacheClient(%d)", int(c))
}

// ParseCacheClient accepts Django's BACKEND paths of the cache backends
// sessionfs reads.
func ParseCacheClient(backend string) (CacheClient, error) {
	switch backend {
	case "django.core.cache.backends.redis.RedisCache":
		return ClientRedisCache, nil
	case "django_redis.cache.RedisCache":
		return ClientDjangoRedis, nil
	case "django.core.cache.backends.memcached.PyMemcacheCache",
		"django.core.cache.backends.memcached.PyLibMCCache",
		"django.core.cache.backends.memcached.MemcachedCache":
		return ClientMemcached, nil
	}
	return 0, fmt.Errorf("cache backend %q is not supported (want django.core.cache.backends.redis.RedisCache, "+
		"django_redis.cache.RedisCache, or django.core.cache.backends.memcached.PyMemcacheCache, PyLibMCCache or MemcachedCache)", backend)
}

// Compressor is django-redis's COMPRESSOR option.
type Compressor int

const (
	CompressNone Compressor = iota // IdentityCompressor, the default
	CompressZlib                   // zlib stream (zlib.compress, level 6)
	CompressGzip                   // gzip member (gzip.compress; django-redis 6.0+)
	CompressLZMA                   // .xz container (lzma.compress, preset 4)
	CompressLZ4                    // LZ4 frame (lz4.frame.compress)
	CompressZstd                   // Zstandard frame (pyzstd.compress)
)

// compressorInfo is the django-redis class of each compressor and its
// min_length: values of that length or shorter are stored uncompressed.
var compressorInfo = map[Compressor]struct {
	class     string
	minLength int
}{
	CompressNone: {"django_redis.compressors.identity.IdentityCompressor", 0},
	CompressZlib: {"django_redis.compressors.zlib.ZlibCompressor", 15},
	CompressGzip: {"django_redis.compressors.gzip.GzipCompressor", 15},
	CompressLZMA: {"django_redis.compressors.lzma.LzmaCompressor", 100},
	CompressLZ4:  {"django_redis.compressors.lz4.Lz4Compressor", 15},
	CompressZstd: {"django_redis.compressors.zstd.ZStdCompressor", 15},
}

func (c Compressor) String() string {
	if i, ok := compressorInfo[c]; ok {
		return i.class
	}
	return fmt.Sprintf("Compressor(%d)", int(c))
}

// ParseCompressor accepts django-redis's COMPRESSOR class paths.
func ParseCompressor(class string) (Compressor, error) {
	for c, i := range compressorInfo {
		if class == i.class {
			return c, nil
		}
	}
	return 0, fmt.Errorf("django-redis COMPRESSOR %q is not supported (want one of django_redis.compressors."+
		"identity.IdentityCompressor, zlib.ZlibCompressor, gzip.GzipCompressor, lzma.LzmaCompressor, lz4.Lz4Compressor, zstd.ZStdCompressor)", class)
}

// CacheValueOptions describe the site's cache client.
type CacheValueOptions struct {
	Client CacheClient
	// Protocol is the pickle protocol written: 0 means the client's own
	// (5 for RedisCache and memcached, 4 for django-redis). 2, 4 and 5 are
	// written; protocol 4 is read by every Django on Python 3.8+.
	Protocol int
	// Compressor is django-redis's COMPRESSOR; only ClientDjangoRedis has one.
	Compressor Compressor
	// MaxDecodedSize bounds the stored value and the decompressed pickle;
	// 0 means DefaultMaxDecodedSize.
	MaxDecodedSize int64
}

// Memcached flags of the Python clients (pymemcache, pylibmc and
// python-memcached agree on these).
const (
	MemcachedFlagPickle     uint32 = 1
	memcachedFlagInt        uint32 = 2
	memcachedFlagLong       uint32 = 4
	memcachedFlagCompressed uint32 = 8 // zlib, on top of the other flags
	memcachedFlagText       uint32 = 16
)

// CacheValueInfo says how a cache value was stored.
type CacheValueInfo struct {
	Protocol   int  // pickle protocol of the stored value
	Compressed bool // the value was compressed (django-redis COMPRESSOR, memcached flag 8)
}

// CacheCodec reads and writes the values one cache client stores.
type CacheCodec struct {
	opt CacheValueOptions
	dec *decompressor
}

// NewCacheCodec checks the options and fills in the defaults.
func NewCacheCodec(opt CacheValueOptions) (*CacheCodec, error) {
	if _, ok := clientNames[opt.Client]; !ok {
		return nil, fmt.Errorf("cache value codec: unknown client %v", opt.Client)
	}
	if _, ok := compressorInfo[opt.Compressor]; !ok {
		return nil, fmt.Errorf("cache value codec: unknown compressor %v", opt.Compressor)
	}
	if opt.Compressor != CompressNone && opt.Client != ClientDjangoRedis {
		return nil, fmt.Errorf("cache value codec: a COMPRESSOR is a django-redis option, not one of %v", opt.Client)
	}
	if opt.Protocol == 0 {
		opt.Protocol = 5
		if opt.Client == ClientDjangoRedis {
			opt.Protocol = 4
		}
	}
	if opt.Protocol != 2 && opt.Protocol != 4 && opt.Protocol != 5 {
		return nil, fmt.Errorf("cache value codec: pickle protocol %d is not written (want 2, 4 or 5)", opt.Protocol)
	}
	if opt.MaxDecodedSize <= 0 {
		opt.MaxDecodedSize = DefaultMaxDecodedSize
	}
	return &CacheCodec{opt: opt, dec: newDecompressor(opt.Compressor, opt.MaxDecodedSize)}, nil
}

// Options returns the options with the defaults filled in.
func (c *CacheCodec) Options() CacheValueOptions { return c.opt }

// Decode turns a stored cache value into the session's JSON, in the tagged
// forms of the README for values JSON has no type for. flags are the
// memcached item's flags (ignored for Redis). Nothing in the value is ever
// executed: the pickle is checked opcode by opcode first and only the
// allow-listed classes are rebuilt. A value that is not a pickled dict is
// ErrNotObject; one over MaxDecodedSize (stored or decompressed) ErrTooLarge.
func (c *CacheCodec) Decode(value []byte, flags uint32) ([]byte, CacheValueInfo, error) {
	var info CacheValueInfo
	if int64(len(value)) > c.opt.MaxDecodedSize {
		return nil, info, fmt.Errorf("%w: a cache value of %d bytes (limit %d)", ErrTooLarge, len(value), c.opt.MaxDecodedSize)
	}
	p := value
	switch c.opt.Client {
	case ClientMemcached:
		if flags&memcachedFlagCompressed != 0 {
			z, err := inflate(value, c.opt.MaxDecodedSize)
			if err != nil {
				return nil, info, fmt.Errorf("memcached value with the compressed flag: %w", err)
			}
			p, info.Compressed = z, true
		}
		switch flags &^ memcachedFlagCompressed {
		case MemcachedFlagPickle:
		case 0:
			return nil, info, fmt.Errorf("%w: the memcached value is plain bytes (flags %d), not a pickled dict", ErrNotObject, flags)
		case memcachedFlagInt, memcachedFlagLong:
			return nil, info, fmt.Errorf("%w: the memcached value is an integer (flags %d), not a pickled dict", ErrNotObject, flags)
		case memcachedFlagText:
			return nil, info, fmt.Errorf("%w: the memcached value is text or a boolean (flags %d), not a pickled dict", ErrNotObject, flags)
		default:
			return nil, info, fmt.Errorf("%w: memcached flags %d are not those of a Django memcached client", ErrUnknownFormat, flags)
		}
	default:
		// Both Redis clients try int(value) before anything else.
		if isPythonInt(value) {
			return nil, info, fmt.Errorf("%w: the value is the integer %s, not a pickled dict", ErrNotObject, strings.TrimSpace(string(value)))
		}
		if c.opt.Compressor != CompressNone && len(value) > 0 && value[0] != 0x80 {
			// django-redis falls back to the stored bytes when they do not
			// decompress: short values are stored as they are.
			z, err := c.dec.decompress(value)
			switch {
			case err == nil:
				p, info.Compressed = z, true
			case isTooLarge(err):
				return nil, info, err
			default:
				if _, serr := scanPickle(value); serr != nil {
					return nil, info, fmt.Errorf("%w: neither %s data (%v) nor a pickle", ErrCorruptPickle, c.opt.Compressor, err)
				}
			}
		}
	}
	if len(p) == 0 {
		return nil, info, fmt.Errorf("%w: empty cache value", ErrCorruptPickle)
	}
	if len(p) >= 2 && p[0] == 0x80 {
		info.Protocol = int(p[1])
	}
	if c.opt.Compressor == CompressNone && c.opt.Client != ClientMemcached {
		if hint := compressedHint(p); hint != "" {
			if _, err := scanPickle(p); err != nil {
				return nil, info, fmt.Errorf("%w: the value looks %s-compressed, and no COMPRESSOR is configured", ErrCorruptPickle, hint)
			}
		}
	}
	js, err := decodeCachePickle(p, 2*c.opt.MaxDecodedSize+4096)
	return js, info, err
}

// Encode writes session JSON as the client would store the dict: a pickle of
// the configured protocol (compressed as django-redis would) and the
// memcached flags. Only JSON values and the tagged forms sessionfs rebuilds
// exactly are written; an opaque $object (or anything else) is refused with
// ErrUnsupportedValue and nothing is written.
func (c *CacheCodec) Encode(sessionJSON []byte) ([]byte, uint32, error) {
	v, err := parseSession(sessionJSON)
	if err != nil {
		return nil, 0, err
	}
	p, err := serializePickleProto(&v, c.opt.Protocol)
	if err != nil {
		return nil, 0, err
	}
	if int64(len(p)) > c.opt.MaxDecodedSize {
		return nil, 0, fmt.Errorf("%w: the pickled session is %d bytes (limit %d)", ErrTooLarge, len(p), c.opt.MaxDecodedSize)
	}
	if c.opt.Client == ClientMemcached {
		return p, MemcachedFlagPickle, nil
	}
	if c.opt.Compressor != CompressNone && len(p) > compressorInfo[c.opt.Compressor].minLength {
		z, err := compressWith(c.opt.Compressor, p)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", c.opt.Compressor, err)
		}
		return z, 0, nil
	}
	return p, 0, nil
}

// isPythonInt reports whether Python's int() accepts the bytes: optional
// whitespace, a sign, ASCII digits with single underscores between them.
func isPythonInt(b []byte) bool {
	s := bytes.TrimSpace(b) // Python strips the same ASCII whitespace (and \x1c-\x1f, never in an int)
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if len(s) == 0 || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i, ch := range s {
		switch {
		case ch >= '0' && ch <= '9':
		case ch == '_' && s[i-1] != '_':
		default:
			return false
		}
	}
	return true
}

// compressedHint names the compressor whose magic bytes start p, if any.
func compressedHint(p []byte) string {
	switch {
	case len(p) >= 2 && p[0] == 0x78 && (uint16(p[0])<<8|uint16(p[1]))%31 == 0:
		return "zlib"
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "lzma"
	case bytes.HasPrefix(p, []byte{0x04, 0x22, 0x4d, 0x18}):
		return "lz4"
	case bytes.HasPrefix(p, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	}
	return ""
}

func isTooLarge(err error) bool { return errorsIsTooLarge(err) }
