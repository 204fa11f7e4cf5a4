package metacache

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/sessionfs/sessionfs/codec"
)

type testVal struct{ n uint64 }

// The packed index (with its backward-shift deletions and sweeps), the
// wide map and the user ids, driven by random operations, answer as a
// plain map does.
func TestCacheMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := New[PackedKey, testVal, string]()
	defer c.Release()
	type want struct {
		n    uint64 // 0: wide
		user string
		wide string
		seen uint32
	}
	model := map[string]want{}
	keys := make([]string, 3000)
	for i := range keys {
		n := 8 + rng.IntN(25)
		if i%10 == 0 {
			n = 33 + rng.IntN(40) // too long to pack: wide
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
		}
		keys[i] = string(b)
	}
	users := []string{"", "0", "42", "2147483647", "2147483648", "4294967296", "007", "alice", "1f0e8c2a-8d7e-4f55-9c1e-3a0b3d2c1e00"}
	gen := uint32(1)
	check := func(key string) {
		w, inModel := model[key]
		k, packed := PackKey(key)
		if c.Has(key, k, packed) != inModel {
			t.Fatalf("%s: has %v, want %v", key, !inModel, inModel)
		}
		v, user, ok := c.Get(k, 0, func(v *testVal) bool { return v.n == w.n })
		wide, wok := c.GetWide(key, 0, func(*string) bool { return true })
		switch {
		case !inModel:
			if packed && ok || wok {
				t.Fatalf("%s: found, not in the model", key)
			}
		case w.n != 0:
			if !ok || v.n != w.n || user != w.user || wok {
				t.Fatalf("%s: slot %v %q %v (wide %v), want %d %q", key, v, user, ok, wok, w.n, w.user)
			}
			if _, _, ok := c.Get(k, 0, func(v *testVal) bool { return v.n == w.n+1 }); ok {
				t.Fatalf("%s: another version matched", key)
			}
		default:
			if !wok || wide != w.wide || packed && ok {
				t.Fatalf("%s: wide %q %v, want %q", key, wide, wok, w.wide)
			}
		}
	}
	for op := range 200_000 {
		key := keys[rng.IntN(len(keys))]
		k, packed := PackKey(key)
		switch r := rng.IntN(100); {
		case r < 50:
			e := Entry[PackedKey, testVal, string]{Key: key, K: k, Packed: packed, InSlot: packed && rng.IntN(10) != 0}
			w := want{seen: gen}
			if e.InSlot {
				e.V.n = 1 + rng.Uint64N(1<<40)
				e.User = users[rng.IntN(len(users))]
				w.n, w.user = e.V.n, e.User
			} else {
				e.W = fmt.Sprint("wide ", op)
				w.wide = e.W
			}
			c.Put(e, gen)
			model[key] = w
		case r < 70:
			c.Delete(key, k, packed)
			delete(model, key)
		case r < 90:
			if w, ok := model[key]; ok {
				if w.n != 0 {
					c.Get(k, gen, func(*testVal) bool { return true })
				} else {
					c.GetWide(key, gen, func(*string) bool { return true })
				}
				w.seen = gen
				model[key] = w
			}
		case r < 91:
			c.Sweep(gen)
			for k, w := range model {
				if w.seen != gen {
					delete(model, k)
				}
			}
			gen++
		}
		check(key)
		if op%10_000 == 0 {
			for _, k := range keys {
				check(k)
			}
			if c.Len() != len(model) {
				t.Fatalf("len %d, want %d", c.Len(), len(model))
			}
			interned := map[string]bool{}
			for _, w := range model {
				if _, small := smallDecimal(w.user); w.n != 0 && w.user != "" && !small {
					interned[w.user] = true
				}
			}
			if _, n := c.Footprint(); n != len(interned) {
				t.Fatalf("%d interned user ids, want %d", n, len(interned))
			}
		}
	}
}

// A slot is its identity, 8 bytes of bookkeeping and the backend's value:
// the backends' sizes hold.
func TestSlotSize(t *testing.T) {
	type forty struct {
		a, b, c uint64
		d, e    uint32
		i       Info
	}
	if n := unsafe.Sizeof(slot[PackedKey, forty]{}); n != 72 {
		t.Errorf("a packed key and 40 bytes make a %d-byte slot", n)
	}
	type sixteen struct {
		a    int64
		b, c uint32
	}
	if n := unsafe.Sizeof(slot[uint64, sixteen]{}); n != 32 {
		t.Errorf("a hash and 16 bytes make a %d-byte slot", n)
	}
}

func TestNewRefusesPointers(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a value holding a string was accepted")
		}
	}()
	New[PackedKey, struct{ s string }, int]()
}

func TestPackKey(t *testing.T) {
	for _, c := range []struct {
		key string
		ok  bool
	}{{"", true}, {"0", true}, {"zz", true}, {"abcdefghijklmnopqrstuvwxyz012345", true},
		{"abcdefghijklmnopqrstuvwxyz0123456", false}, {"A", false}, {"a-b", false}} {
		if _, ok := PackKey(c.key); ok != c.ok {
			t.Errorf("PackKey(%q): %v", c.key, ok)
		}
	}
	a, _ := PackKey("a")
	a0, _ := PackKey("a0")
	if a == a0 {
		t.Error("a and a0 pack alike")
	}
}

func TestPackInfo(t *testing.T) {
	in := codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256,
		KeyIndex: 2, Wrapped: true, Compressed: true, Timestamp: time.Unix(1_800_000_000, 0).UTC()}
	p, ok := PackInfo(in, true)
	if got, empty := p.Unpack(); !ok || got != in || !empty {
		t.Errorf("%+v %v: %+v %v", in, ok, got, empty)
	}
	for _, bad := range []codec.Info{{KeyIndex: 1 << 16}, {Timestamp: time.Unix(-1, 0)}, {Timestamp: time.Unix(1<<32, 0)}} {
		if _, ok := PackInfo(bad, false); ok {
			t.Errorf("%+v packed", bad)
		}
	}
}
