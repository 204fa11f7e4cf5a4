package fusefs

import (
	"bytes"
	"syscall"
	"testing"
)

// TestPageBufReusesPagesWithoutStaleBytes: a buffer dropped after a save
// gives its page to the next one, which must read zeros where it has not
// written, never the previous session's bytes.
func TestPageBufReusesPagesWithoutStaleBytes(t *testing.T) {
	var charged int64
	charge := func(d int64) syscall.Errno { charged += d; return 0 }
	var a pageBuf
	if e := a.resize(300, charge); e != 0 {
		t.Fatal(e)
	}
	copy(a.bytes(), bytes.Repeat([]byte("secret"), 50))
	page := &a.m[0]
	a.free(charge)
	if n := len(sparePages.pages); n == 0 || &sparePages.pages[n-1][0] != page {
		t.Fatalf("the dropped page was not kept for the next buffer")
	}
	if charged != 0 {
		t.Fatalf("after free, %d bytes still charged", charged)
	}

	var b pageBuf
	if e := b.resize(10, charge); e != 0 {
		t.Fatal(e)
	}
	if &b.m[0] != page {
		t.Fatalf("the dropped page was not reused")
	}
	if e := b.resize(pageSize, charge); e != 0 {
		t.Fatal(e)
	}
	if !bytes.Equal(b.bytes(), make([]byte, pageSize)) {
		t.Fatalf("a reused page shows what the buffer before it held")
	}
	if charged != int64(pageSize) {
		t.Fatalf("charged %d, want one page", charged)
	}
	b.free(charge)
}
