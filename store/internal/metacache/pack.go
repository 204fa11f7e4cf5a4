package metacache

import (
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// MaxPackedKey is the longest key a PackedKey holds.
const MaxPackedKey = 32

// PackedKey is a session key of [a-z0-9] characters, 6 bits each ('0' is
// 1, 'a' is 11), zero bits after its end: Django's 32-character keys in 24
// bytes.
type PackedKey [3]uint64

// PackKey packs key, or reports that it does not fit.
func PackKey(key string) (PackedKey, bool) {
	var k PackedKey
	if len(key) > MaxPackedKey {
		return k, false
	}
	for i := 0; i < len(key); i++ {
		var v uint64
		switch c := key[i]; {
		case c >= '0' && c <= '9':
			v = uint64(c-'0') + 1
		case c >= 'a' && c <= 'z':
			v = uint64(c-'a') + 11
		default:
			return k, false
		}
		k[i/11] |= v << (6 * (i % 11)) // 11 characters a word
	}
	return k, true
}

// DeleteKey drops key's entry from a cache of packed session keys.
func DeleteKey[V, W any](c *Cache[PackedKey, V, W], key string) {
	k, packed := PackKey(key)
	c.Delete(key, k, packed)
}

// Info is a codec.Info and a session's emptiness in 8 bytes.
type Info struct {
	stamp    uint32 // format C signing time, unix seconds; 0: none
	keyIndex uint16
	bits     uint16 // 2 bits each for format, serializer, algorithm, then flags
}

const (
	bitsFormat     = 0
	bitsSerializer = 2
	bitsAlgorithm  = 4
	flagWrapped    = 1 << 6
	flagCompressed = 1 << 7
	flagEmpty      = 1 << 8
)

// PackInfo packs i and empty, or reports that they do not fit.
func PackInfo(i codec.Info, empty bool) (Info, bool) {
	const maxU32 = 1<<32 - 1
	ts := int64(0)
	if !i.Timestamp.IsZero() {
		ts = i.Timestamp.Unix()
	}
	if ts < 0 || ts > maxU32 || ts == 0 && !i.Timestamp.IsZero() ||
		i.KeyIndex < 0 || i.KeyIndex > 1<<16-1 ||
		i.Format < 0 || i.Format > 3 || i.Serializer < 0 || i.Serializer > 3 || i.Algorithm < 0 || i.Algorithm > 3 {
		return Info{}, false
	}
	return Info{
		stamp:    uint32(ts),
		keyIndex: uint16(i.KeyIndex),
		bits: uint16(i.Format)<<bitsFormat | uint16(i.Serializer)<<bitsSerializer | uint16(i.Algorithm)<<bitsAlgorithm |
			flagIf(i.Wrapped, flagWrapped) | flagIf(i.Compressed, flagCompressed) | flagIf(empty, flagEmpty),
	}, true
}

func flagIf(on bool, flag uint16) uint16 {
	if on {
		return flag
	}
	return 0
}

// Unpack returns the codec.Info and emptiness PackInfo packed.
func (p Info) Unpack() (codec.Info, bool) {
	i := codec.Info{
		Format:     codec.Format(p.bits >> bitsFormat & 3),
		Serializer: codec.Serializer(p.bits >> bitsSerializer & 3),
		Algorithm:  codec.Algorithm(p.bits >> bitsAlgorithm & 3),
		KeyIndex:   int(p.keyIndex),
		Wrapped:    p.bits&flagWrapped != 0, Compressed: p.bits&flagCompressed != 0,
	}
	if p.stamp != 0 {
		i.Timestamp = time.Unix(int64(p.stamp), 0).UTC() // as the codec returns it
	}
	return i, p.bits&flagEmpty != 0
}
