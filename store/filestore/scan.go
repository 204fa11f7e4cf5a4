package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/parallel"
)

// scanBatch is how many directory entries a Scan reads and decodes at a
// time: memory stays bounded by one batch whatever the directory's size.
const scanBatch = 512

// Scan calls fn for every session file of the directory, expired and
// invalid ones included, streaming: the directory is read a batch at a
// time, never listed whole. Names without the prefix, Django's "_out_" temp
// files and names whose rest is not a valid key are skipped. Each file is
// lstat'ed, never followed: a symlink, directory or fifo is an Entry with
// Err wrapping ErrNotRegular. Unchanged files come from the metadata cache;
// the others are read and decoded in parallel (one worker per CPU). An
// undecodable file is an Entry with Err set. An error returned by fn stops
// the scan and is returned.
func (s *FileStore) Scan(ctx context.Context, fn func(store.Entry) error) error {
	d, err := os.Open(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("scanning sessions: %w", err)
	}
	defer d.Close()
	gen := s.gen.Add(1)
	workers := runtime.NumCPU()
	batch := make([]store.Entry, 0, scanBatch)
	types := make([]fs.FileMode, 0, scanBatch)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		dirents, readErr := d.ReadDir(scanBatch)
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return fmt.Errorf("scanning sessions: reading %s: %w", s.cfg.Dir, readErr)
		}
		batch, types = batch[:0], types[:0]
		for _, de := range dirents {
			if key, ok := s.keyOfName(de.Name()); ok {
				batch = append(batch, store.Entry{Meta: store.Meta{Key: key}})
				types = append(types, de.Type())
			}
		}
		s.fillEntries(ctx, batch, types, gen, workers)
		if err := ctx.Err(); err != nil {
			return err // the batch may be partly filled
		}
		for _, e := range batch {
			if e.Err != nil && errors.Is(e.Err, store.ErrNotFound) {
				continue // removed since the directory was read
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if errors.Is(readErr, io.EOF) || len(dirents) == 0 {
			break
		}
	}
	if s.gen.Load() == gen {
		s.cache.Sweep(gen) // a complete scan, and no other one started meanwhile
	}
	return nil
}

// fillEntries computes the Meta (or Err) of every entry of a batch, with up
// to workers goroutines.
func (s *FileStore) fillEntries(ctx context.Context, batch []store.Entry, types []fs.FileMode, gen uint32, workers int) {
	parallel.For(ctx, len(batch), workers, func(i int) {
		batch[i] = s.entry(batch[i].Key, types[i], gen)
	})
}

// entry is one Scan item: from the cache when the file is unchanged, else
// read and decoded. typ is the directory entry's type: a name the directory
// already says is not a regular file (a device, a fifo) is never opened.
func (s *FileStore) entry(key string, typ fs.FileMode, gen uint32) store.Entry {
	// Without a cache entry (the CLI's one-shot scans) the lstat would be
	// wasted: the read's fstat gives the identity.
	if typ != 0 || s.cache.has(key) {
		id, err := s.lstatKey(key)
		if err != nil {
			return store.Entry{Meta: id.meta(key), Err: err}
		}
		if meta, err, ok := s.cache.getSeen(key, id, gen); ok {
			return store.Entry{Meta: meta, Err: err}
		}
	}
	data, id, err := s.readRaw(key)
	if err != nil {
		if id == (fileID{}) {
			id, _ = s.lstatKey(key) // a symlink: its own identity, for listings
		}
		return store.Entry{Meta: id.meta(key), Err: err}
	}
	_, meta, err := s.decodeFile(key, id, data)
	s.cache.put(key, meta, err, gen)
	if err != nil {
		return store.Entry{Meta: id.meta(key), Err: err}
	}
	return store.Entry{Meta: meta}
}

// ScanUser is Scan restricted to the decodable sessions of userID: a
// session file holds its user id only inside the signed data, so every
// file is scanned (from the metadata cache when unchanged).
func (s *FileStore) ScanUser(ctx context.Context, userID string, fn func(store.Entry) error) error {
	return s.Scan(ctx, func(e store.Entry) error {
		if e.Err != nil || e.UserID != userID {
			return nil
		}
		return fn(e)
	})
}
