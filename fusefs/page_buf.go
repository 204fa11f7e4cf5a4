package fusefs

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// pageBuf holds the bytes of a file being written (a writer's document, a
// scratch file) in memory mapped apart from the Go heap. Growing it moves
// pages instead of copying them, and cutting or dropping it gives the pages
// back to the system at once, so the mount's resident size follows what
// its files hold; in the heap, buffers grown and dropped stay resident
// until the collector runs, which lets it reach twice that or more.
//
// Its owner's lock guards it, and no slice of it may outlive that lock:
// bytes from a dropped mapping fault. Everything that keeps bytes copies
// them (reads, snapshots, renames onto a session).
type pageBuf struct {
	m []byte // the whole mapping (len == cap, whole pages); nil when empty
	n int    // the file's length
}

var pageSize = os.Getpagesize()

// sparePages keeps a few dropped one-page mappings for the next buffer: a
// session written through the mount fits in a page, and mapping, faulting
// in and unmapping that page for every save costs more than the save's own
// encoding. Bounded, so at most maxSparePages pages stay resident unused.
var sparePages struct {
	sync.Mutex
	pages [][]byte
}

const maxSparePages = 64

// takeSparePage returns a kept one-page mapping, or nil.
func takeSparePage() []byte {
	sparePages.Lock()
	defer sparePages.Unlock()
	n := len(sparePages.pages)
	if n == 0 {
		return nil
	}
	m := sparePages.pages[n-1]
	sparePages.pages = sparePages.pages[:n-1]
	return m
}

// keepSparePage keeps m, a one-page mapping no buffer holds any more, and
// says whether it did.
func keepSparePage(m []byte) bool {
	sparePages.Lock()
	defer sparePages.Unlock()
	if len(sparePages.pages) == maxSparePages {
		return false
	}
	sparePages.pages = append(sparePages.pages, m)
	return true
}

// bytes is the file's content, valid while the owner's lock is held.
func (p *pageBuf) bytes() []byte { return p.m[:p.n] }

// len is the file's length.
func (p *pageBuf) len() int { return p.n }

// held is what the buffer holds in memory: the budgets are charged this.
func (p *pageBuf) held() int64 { return int64(len(p.m)) }

// resize sets the length to n; bytes past the old length read as zero.
// charge is asked for every change in mapped bytes, before anything is
// mapped, and may refuse growth with an errno: the buffer is then
// unchanged.
func (p *pageBuf) resize(n int, charge func(delta int64) syscall.Errno) syscall.Errno {
	size := (n + pageSize - 1) / pageSize * pageSize
	if delta := int64(size - len(p.m)); delta > 0 {
		if e := charge(delta); e != 0 {
			return e
		}
		if err := p.remap(size); err != nil {
			charge(-delta)
			return syscall.ENOMEM
		}
	} else if delta < 0 && p.remap(size) == nil {
		charge(delta) // had the unmapping failed, the pages would stay mapped and charged
	}
	if n > p.n {
		clear(p.m[p.n:n]) // what a shorter length left behind on the same page
	}
	p.n = n
	return 0
}

// free drops the mapping, giving back what it held through charge.
func (p *pageBuf) free(charge func(delta int64) syscall.Errno) {
	p.resize(0, charge)
}

// remap makes the mapping size bytes (a multiple of the page size).
func (p *pageBuf) remap(size int) error {
	var err error
	switch {
	case size == len(p.m):
	case size == 0:
		if len(p.m) == pageSize && keepSparePage(p.m) {
			p.m = nil
		} else if err = unix.Munmap(p.m); err == nil {
			p.m = nil
		}
	case p.m == nil && size == pageSize:
		if p.m = takeSparePage(); p.m == nil {
			p.m, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		}
	case p.m == nil:
		p.m, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	default:
		var m []byte
		if m, err = unix.Mremap(p.m, size, unix.MREMAP_MAYMOVE); err == nil {
			p.m = m
		}
	}
	if err != nil {
		return fmt.Errorf("mapping %d bytes of buffer: %w", size, err)
	}
	return nil
}

// readAt copies what data holds at off into dest.
func readAt(data, dest []byte, off int64) fuse.ReadResult {
	if off >= int64(len(data)) {
		return fuse.ReadResultData(nil)
	}
	n := copy(dest, data[off:])
	return fuse.ReadResultData(dest[:n])
}
