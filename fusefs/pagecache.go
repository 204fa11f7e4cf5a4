package fusefs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// pageCache decides, per session node, whether a reader may go through the
// kernel's page cache instead of direct I/O, and whether the pages already
// cached may be kept. Every open still loads the session afresh; the cache
// saves the READ round trips (the one that finds EOF too): two of the five
// requests a `cat` costs (README, Performance).
//
// Two facts make a cached read safe:
//   - the kernel's idea of the file's size (the last attributes we sent,
//     from Lookup, Getattr or a listing) is the size of what this open
//     renders: a cached read stops at that size. kernelID records the
//     backing identity those attributes described; an open whose loaded
//     session has another identity uses direct I/O, which ignores i_size.
//   - the pages held are a rendering of the same backing identity: the
//     kernel drops them at every open without FOPEN_KEEP_CACHE, so cacheID
//     is the identity of the last such open, as long as no reader of another
//     identity could still be filling pages (mixed).
//
// All fields are guarded by the node's mu. The zero version means
// "unknown". Every session inode the kernel holds has one, so it is kept
// small (versions as three integers, not FileIDs with their time.Time).
type pageCache struct {
	kernelID   version // identity whose size was last sent; zero: not a committed rendering
	cacheID    version // identity whose rendering the page cache may hold
	readersID  version // identity the open page-cache readers loaded
	kernelSize int64   // the size sent
	changedAt  int64   // when the size sent last changed, unix nanoseconds
	readers    int32   // open handles reading through the page cache
	told       bool    // attributes were ever sent for this node
	mixed      bool    // readers of two identities were open together
}

// version is a backing FileID in 24 bytes.
type version struct{ ino, size, mtime int64 }

func versionOf(id store.FileID) version {
	if id == (store.FileID{}) {
		return version{}
	}
	return version{int64(id.Ino), id.Size, id.ModTime.UnixNano()}
}

// attrSettle is how long after the size sent to the kernel changed that
// readers keep using direct I/O. Two attribute replies computed close
// together may reach the kernel in either order (it keeps whichever it
// applies first), so right after a change we cannot know which size it
// holds; replies are applied within microseconds, a second is ample.
const attrSettle = time.Second

// sentAttr records the attributes sent to the kernel: id is the backing
// identity whose rendering has that size, zero when the size is something
// else (an open writer's buffer, a pending create).
func (c *pageCache) sentAttr(id store.FileID, size int64, now time.Time) {
	v := versionOf(id)
	if c.told && (c.kernelID != v || c.kernelSize != size) {
		c.changedAt = now.UnixNano()
	}
	c.told, c.kernelID, c.kernelSize = true, v, size
}

// openReader decides the open flags of a reader that loaded id with a
// rendering of size bytes, and whether it reads through the page cache.
func (c *pageCache) openReader(id store.FileID, size int64, now time.Time) (flags uint32, cached bool) {
	v := versionOf(id)
	if v == (version{}) || c.kernelID != v || size != c.kernelSize || now.UnixNano()-c.changedAt < int64(attrSettle) {
		c.cacheID = version{} // this open drops the pages
		return fuse.FOPEN_DIRECT_IO, false
	}
	keep := !c.mixed && c.cacheID == v
	if c.readers > 0 && c.readersID != v {
		c.mixed = true
	}
	c.readers++
	c.readersID = v
	if c.mixed {
		c.cacheID = version{}
	} else {
		c.cacheID = v
	}
	if keep {
		return fuse.FOPEN_KEEP_CACHE, true
	}
	return 0, true
}

// openDirect records an open with direct I/O and no FOPEN_KEEP_CACHE (a
// writer): the kernel drops the pages, and writes move its size.
func (c *pageCache) openDirect(now time.Time) {
	c.cacheID = version{}
	c.sentAttr(store.FileID{}, -1, now)
}

// closeReader is the release of a handle that read through the page cache.
func (c *pageCache) closeReader() {
	c.readers--
	if c.readers == 0 && c.mixed {
		c.mixed = false
		c.cacheID = version{} // the next open drops whatever was filled
	}
}
