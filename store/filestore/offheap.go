package filestore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapZeroed returns n zero values of T in memory mapped from the kernel,
// outside Go's heap, and the mapping (nil when mmap failed and the slice
// came from the heap instead). The metadata cache keeps its slots and index
// there: they hold no pointers, so the collector has nothing to find in
// them, and outside the heap they do not count towards the heap size that
// paces collection. A mount caching a million sessions then peaks near
// cache + a small heap, not twice the cache. Only for pointer-free T.
func mapZeroed[T any](n int) ([]T, []byte) {
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

// unmap releases a mapping from mapZeroed (nil: nothing to release).
func unmap(mem []byte) {
	if mem != nil {
		_ = unix.Munmap(mem)
	}
}
