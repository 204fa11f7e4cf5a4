// Package offheap hands out pointer-free slices in memory mapped from the
// kernel, outside Go's heap: the backends' metadata caches keep their slots
// and indexes there, so the collector has nothing to scan in them and they
// do not count towards the heap size that paces collection. A listing that
// caches a million sessions then peaks near cache + a small heap, not
// twice the cache.
package offheap

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Zeroed returns n zero values of T and the mapping holding them (nil when
// mmap failed and the slice came from the heap instead). Only for
// pointer-free T.
func Zeroed[T any](n int) ([]T, []byte) {
	var zero T
	size := int(unsafe.Sizeof(zero)) * n
	if size == 0 {
		return make([]T, n), nil
	}
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]T, n), nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), n), mem
}

// Release unmaps a mapping from Zeroed (nil: nothing to release).
func Release(mem []byte) {
	if mem != nil {
		_ = unix.Munmap(mem)
	}
}
