package cachestore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// Memcached speaks the meta text protocol (memcached 1.6+): one "mg" reads
// a value with its flags, remaining TTL and CAS id; "ms"/"md" with C<cas>
// write and delete only the version that was read. No maintained Go library
// has the meta commands or lru_crawler metadump (gomemcache has neither: it
// cannot read a TTL, which is the only record of when a default session
// expires), hence this small client of our own. One server only: Django's
// memcached clients each place keys on several servers their own way.

type memcachedClient struct {
	cfg  Config
	keys Keys

	mu   sync.Mutex
	idle []*mcConn
}

type mcConn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

const maxIdleMemcached = 4

// Memcached reads an expiry time over 30 days as an absolute Unix time.
const memcachedRelativeMax = 30 * 24 * time.Hour

func newMemcached(cfg Config, keys Keys) *memcachedClient {
	return &memcachedClient{cfg: cfg, keys: keys}
}

func (m *memcachedClient) Keys() Keys          { return m.keys }
func (m *memcachedClient) MaxValueSize() int64 { return m.cfg.MaxValueSize }
func (m *memcachedClient) String() string      { return m.cfg.Location.String() }

func (m *memcachedClient) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.idle {
		c.nc.Close()
	}
	m.idle = nil
	return nil
}

func (m *memcachedClient) fail(op string, err error) error {
	return unavailable(fmt.Errorf("memcached %s: %s: %w", m, op, err))
}

// do runs one exchange on a pooled connection, with the configured
// deadlines and the context's; a connection that saw any error is closed,
// never reused (its stream may be mid-reply).
func (m *memcachedClient) do(ctx context.Context, fn func(c *mcConn) error) error {
	c, err := m.conn(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	err = fn(c)
	if !stop() || err != nil {
		c.nc.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	m.mu.Lock()
	if len(m.idle) < maxIdleMemcached {
		m.idle = append(m.idle, c)
		c = nil
	}
	m.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
	return nil
}

func (m *memcachedClient) conn(ctx context.Context) (*mcConn, error) {
	m.mu.Lock()
	if n := len(m.idle); n > 0 {
		c := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		return c, nil
	}
	m.mu.Unlock()
	d := net.Dialer{Timeout: m.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, m.cfg.Location.Network, m.cfg.Location.Addr)
	if err != nil {
		return nil, err
	}
	return &mcConn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
}

// send writes a request within the write timeout.
func (m *memcachedClient) send(c *mcConn, parts ...[]byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(m.cfg.WriteTimeout))
	for _, p := range parts {
		c.w.Write(p)
	}
	return c.w.Flush()
}

// line reads one reply line within the read timeout.
func (m *memcachedClient) line(c *mcConn) (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(m.cfg.ReadTimeout))
	s, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(s) > 64<<10 {
		return "", errors.New("reply line too long")
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// metaReply is a parsed "CODE [size] flag..." line.
type metaReply struct {
	code  string
	size  int64
	flags map[byte]string
}

func parseMeta(line string) (metaReply, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return metaReply{}, errors.New("empty reply")
	}
	r := metaReply{code: f[0], flags: map[byte]string{}}
	rest := f[1:]
	if r.code == "VA" {
		if len(rest) == 0 {
			return r, fmt.Errorf("reply %q has no size", line)
		}
		n, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || n < 0 {
			return r, fmt.Errorf("reply %q has a bad size", line)
		}
		r.size, rest = n, rest[1:]
	}
	switch r.code {
	case "VA", "HD", "EN", "NS", "EX", "NF":
	default:
		return r, fmt.Errorf("server answered %q", line)
	}
	for _, t := range rest {
		r.flags[t[0]] = t[1:]
	}
	return r, nil
}

func (r metaReply) num(flag byte) (int64, bool) {
	s, ok := r.flags[flag]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// readItem reads an mg reply ("v f t c s" requested); found is false on EN.
func (m *memcachedClient) readItem(c *mcConn, session string, now time.Time) (it Item, found bool, err error) {
	l, err := m.line(c)
	if err != nil {
		return Item{}, false, err
	}
	r, err := parseMeta(l)
	if err != nil {
		return Item{}, false, err
	}
	switch r.code {
	case "EN":
		return Item{}, false, nil
	case "VA":
	default:
		return Item{}, false, fmt.Errorf("server answered %q to a get", l)
	}
	flags, _ := r.num('f')
	ttl, _ := r.num('t')
	cas, _ := r.num('c')
	it = Item{Key: session, Flags: uint32(flags), Size: r.size, Version: memcachedVersion(uint64(cas))}
	if ttl >= 0 {
		it.Expiry = now.Add(time.Duration(ttl) * time.Second)
	}
	c.nc.SetReadDeadline(time.Now().Add(m.cfg.ReadTimeout))
	if r.size > m.cfg.MaxValueSize {
		if _, err := io.CopyN(io.Discard, c.r, r.size+2); err != nil {
			return Item{}, false, err
		}
		it.Err = fmt.Errorf("%w: a value of %d bytes (limit %d)", store.ErrTooLarge, r.size, m.cfg.MaxValueSize)
		return it, true, nil
	}
	buf := make([]byte, r.size+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return Item{}, false, err
	}
	if !bytes.HasSuffix(buf, []byte("\r\n")) {
		return Item{}, false, errors.New("value not followed by CRLF")
	}
	it.Value = buf[:r.size:r.size]
	return it, true, nil
}

// mgRequest reads a value with its flags, TTL, CAS id and size, without
// bumping it in the server's LRU ("u"): a read by sessionfs must not
// change which sessions the server evicts first, and items bumped while a
// metadump walks the LRU make the dump pass over them.
func mgRequest(ck string) []byte { return []byte("mg " + ck + " v f t c s u\r\n") }

func (m *memcachedClient) Ping(ctx context.Context) error {
	err := m.do(ctx, func(c *mcConn) error {
		if err := m.send(c, []byte("mn\r\n")); err != nil {
			return err
		}
		l, err := m.line(c)
		if err == nil && l != "MN" {
			err = fmt.Errorf("server answered %q to mn", l)
		}
		return err
	})
	if err != nil {
		return m.fail("ping", err)
	}
	return nil
}

func (m *memcachedClient) Get(ctx context.Context, session string) (Item, error) {
	ck, err := m.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	var it Item
	var found bool
	err = m.do(ctx, func(c *mcConn) error {
		if err := m.send(c, mgRequest(ck)); err != nil {
			return err
		}
		it, found, err = m.readItem(c, session, time.Now())
		return err
	})
	switch {
	case err != nil:
		return Item{}, m.fail("get "+session, err)
	case !found:
		return Item{}, fmt.Errorf("%w: %s", store.ErrNotFound, session)
	case it.Err != nil:
		return it, fmt.Errorf("session %s: %w", session, it.Err)
	}
	return it, nil
}

// exptime is the T argument of a TTL: seconds, or past 30 days the absolute
// Unix time (as Django's memcached backends send it); 0 never expires.
func exptime(now time.Time, ttl time.Duration) int64 {
	s := int64((ttl + time.Second - 1) / time.Second)
	if ttl > memcachedRelativeMax {
		return now.Unix() + s
	}
	return s
}

// set runs one "ms" and returns the reply code and the new CAS id.
func (m *memcachedClient) set(ctx context.Context, ck string, value []byte, flags string) (string, uint64, error) {
	var code string
	var cas uint64
	err := m.do(ctx, func(c *mcConn) error {
		head := fmt.Sprintf("ms %s %d %s c\r\n", ck, len(value), flags)
		if err := m.send(c, []byte(head), value, []byte("\r\n")); err != nil {
			return err
		}
		l, err := m.line(c)
		if err != nil {
			return err
		}
		r, err := parseMeta(l)
		if err != nil {
			return err
		}
		code = r.code
		n, _ := r.num('c')
		cas = uint64(n)
		return nil
	})
	return code, cas, err
}

func (m *memcachedClient) checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache: TTL %v: Django deletes a session whose expiry age is not positive, never stores it", ttl)
	}
	return nil
}

func (m *memcachedClient) Add(ctx context.Context, session string, value []byte, flags uint32, ttl time.Duration) (Item, error) {
	ck, err := m.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	if err := m.checkTTL(ttl); err != nil {
		return Item{}, err
	}
	now := time.Now()
	code, cas, err := m.set(ctx, ck, value, fmt.Sprintf("T%d F%d ME", exptime(now, ttl), flags))
	if err != nil {
		return Item{}, m.fail("add "+session, err)
	}
	switch code {
	case "HD":
		return Item{Key: session, Value: value, Flags: flags, Size: int64(len(value)), Expiry: now.Add(ttl), Version: memcachedVersion(cas)}, nil
	case "NS":
		return Item{}, fmt.Errorf("%w: %s", store.ErrExists, session)
	}
	return Item{}, m.fail("add "+session, fmt.Errorf("server answered %s", code))
}

func casCode(session, code string) error {
	switch code {
	case "HD":
		return nil
	case "EX":
		return fmt.Errorf("%w: %s", store.ErrConflict, session)
	case "NF", "EN":
		return fmt.Errorf("%w: %s", store.ErrNotFound, session)
	}
	return fmt.Errorf("server answered %s", code)
}

func (m *memcachedClient) versionArg(v Version) (uint64, error) {
	if v[0] != 'm' {
		return 0, fmt.Errorf("%w: not a Memcached version", store.ErrConflict)
	}
	return v.cas(), nil
}

// CompareAndSet keeping the TTL reads the remaining TTL first (the meta
// protocol writes a TTL with every store): a change in between makes the
// CAS fail, so what is written is never stale; the TTL kept is the
// remaining one to the second.
func (m *memcachedClient) CompareAndSet(ctx context.Context, session string, ifMatch Version, value []byte, flags uint32, ttl time.Duration) (Item, error) {
	ck, err := m.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	if ttl < 0 {
		return Item{}, m.checkTTL(ttl)
	}
	cas, err := m.versionArg(ifMatch)
	if err != nil {
		return Item{}, err
	}
	now := time.Now()
	exp, expiry := int64(0), time.Time{}
	if ttl == KeepTTL {
		cur, err := m.meta(ctx, session, ck, "t c")
		if err != nil {
			return Item{}, err
		}
		if got, _ := cur.num('c'); uint64(got) != cas {
			return Item{}, fmt.Errorf("%w: %s", store.ErrConflict, session)
		}
		if left, _ := cur.num('t'); left >= 0 {
			exp, expiry = max(left, 1), now.Add(time.Duration(max(left, 1))*time.Second)
		}
	} else {
		exp, expiry = exptime(now, ttl), now.Add(ttl)
	}
	code, newCAS, err := m.set(ctx, ck, value, fmt.Sprintf("C%d T%d F%d", cas, exp, flags))
	if err != nil {
		return Item{}, m.fail("compare-and-set "+session, err)
	}
	if err := casCode(session, code); err != nil {
		return Item{}, err
	}
	return Item{Key: session, Value: value, Flags: flags, Size: int64(len(value)), Expiry: expiry, Version: memcachedVersion(newCAS)}, nil
}

// meta runs "mg <key> <flags>" without the value; store.ErrNotFound on a miss.
func (m *memcachedClient) meta(ctx context.Context, session, ck, flags string) (metaReply, error) {
	var r metaReply
	err := m.do(ctx, func(c *mcConn) error {
		if err := m.send(c, []byte("mg "+ck+" "+flags+"\r\n")); err != nil {
			return err
		}
		l, err := m.line(c)
		if err != nil {
			return err
		}
		r, err = parseMeta(l)
		return err
	})
	if err != nil {
		return r, m.fail("get "+session, err)
	}
	if r.code == "EN" {
		return r, fmt.Errorf("%w: %s", store.ErrNotFound, session)
	}
	if r.code != "HD" {
		return r, m.fail("get "+session, fmt.Errorf("server answered %s", r.code))
	}
	return r, nil
}

// SetTTL with a version rewrites the same value with C<cas> and the new T:
// the one meta command that both compares and renews.
func (m *memcachedClient) SetTTL(ctx context.Context, session string, ifMatch Version, ttl time.Duration) (Item, error) {
	ck, err := m.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	if err := m.checkTTL(ttl); err != nil {
		return Item{}, err
	}
	cur, err := m.Get(ctx, session)
	if err != nil {
		return Item{}, err
	}
	if !ifMatch.IsZero() && cur.Version != ifMatch {
		return Item{}, fmt.Errorf("%w: %s", store.ErrConflict, session)
	}
	now := time.Now()
	code, cas, err := m.set(ctx, ck, cur.Value, fmt.Sprintf("C%d T%d F%d", cur.Version.cas(), exptime(now, ttl), cur.Flags))
	if err != nil {
		return Item{}, m.fail("renew "+session, err)
	}
	if err := casCode(session, code); err != nil {
		return Item{}, err
	}
	cur.Expiry, cur.Version = now.Add(ttl), memcachedVersion(cas)
	return cur, nil
}

func (m *memcachedClient) del(ctx context.Context, session, flags string) error {
	ck, err := m.keys.CacheKey(session)
	if err != nil {
		return err
	}
	var code string
	err = m.do(ctx, func(c *mcConn) error {
		if err := m.send(c, []byte("md "+ck+flags+"\r\n")); err != nil {
			return err
		}
		l, err := m.line(c)
		if err != nil {
			return err
		}
		r, err := parseMeta(l)
		code = r.code
		return err
	})
	if err != nil {
		return m.fail("delete "+session, err)
	}
	return casCode(session, code)
}

func (m *memcachedClient) DeleteIf(ctx context.Context, session string, ifMatch Version) error {
	cas, err := m.versionArg(ifMatch)
	if err != nil {
		return err
	}
	return m.del(ctx, session, fmt.Sprintf(" C%d", cas))
}

func (m *memcachedClient) Delete(ctx context.Context, session string) error {
	return m.del(ctx, session, "")
}

// Scan lists keys with lru_crawler metadump (streamed on one connection)
// and reads each batch of session keys with pipelined mg commands on
// another. Memory: one batch of values plus 8 bytes per key.
//
// A metadump silently passes over items: a slab class the server's crawler
// is busy with, and items Django's reads are moving between the LRU's
// segments meanwhile. So Scan compares how many keys it dumped in each
// class with how many "stats items" says the class holds, and dumps the
// classes that fell short again (a few times, briefly apart, with fresh
// figures each time). It stays a best effort: Memcached guarantees no
// listing.
func (m *memcachedClient) Scan(ctx context.Context, fn func(Item) error) error {
	if !m.cfg.Metadump {
		return fmt.Errorf("%w: Memcached has no listing; sessionfs can list only through lru_crawler metadump "+
			"(one server, memcached's LRU crawler enabled, dumping not disabled with -X): enable it, or look sessions up by name", ErrUnsupported)
	}
	classes, err := m.itemClasses(ctx)
	if err != nil {
		return m.fail("stats items", err)
	}
	seen := newSeenSet()
	defer seen.release()
	best := map[int]int{} // the most keys one dump found in each class
	which := "all"
	for attempt := 0; ; attempt++ {
		dumped, err := m.metadump(ctx, which, seen, fn)
		if err != nil {
			return err
		}
		for cls, n := range dumped {
			best[cls] = max(best[cls], n)
		}
		short := func() []string {
			var out []string
			for cls, n := range classes {
				if int64(best[cls]) < n {
					out = append(out, strconv.Itoa(cls))
				}
			}
			sort.Strings(out)
			return out
		}
		if len(short()) == 0 || attempt == metadumpRetries {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
		if classes, err = m.itemClasses(ctx); err != nil {
			return m.fail("stats items", err)
		}
		missing := short()
		if len(missing) == 0 {
			return nil
		}
		which = strings.Join(missing, ",")
	}
}

const metadumpRetries = 4

// itemClasses is "stats items": the number of items in each slab class.
func (m *memcachedClient) itemClasses(ctx context.Context) (map[int]int64, error) {
	classes := map[int]int64{}
	err := m.do(ctx, func(c *mcConn) error {
		if err := m.send(c, []byte("stats items\r\n")); err != nil {
			return err
		}
		for {
			l, err := m.line(c)
			if err != nil {
				return err
			}
			if l == "END" {
				return nil
			}
			// STAT items:<class>:number <n>
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "STAT" {
				return fmt.Errorf("stats items: unexpected line %q", l)
			}
			parts := strings.Split(f[1], ":")
			if len(parts) == 3 && parts[0] == "items" && parts[2] == "number" {
				cls, err1 := strconv.Atoi(parts[1])
				n, err2 := strconv.ParseInt(f[2], 10, 64)
				if err1 == nil && err2 == nil {
					classes[cls] = n
				}
			}
		}
	})
	return classes, err
}

// metadump runs one "lru_crawler metadump <which>", hands the session
// values it finds to fn in batches, and counts the keys dumped per class.
func (m *memcachedClient) metadump(ctx context.Context, which string, seen *seenSet, fn func(Item) error) (map[int]int, error) {
	dumped := map[int]int{}
	var batch []string
	var batchBytes int64
	flush := func() error {
		err := m.readBatch(ctx, batch, fn)
		batch, batchBytes = batch[:0], 0
		return err
	}
	var fnErr error
	err := m.do(ctx, func(c *mcConn) error {
		if err := m.send(c, []byte("lru_crawler metadump "+which+"\r\n")); err != nil {
			return err
		}
		first := true
		for {
			l, err := m.line(c)
			if err != nil {
				return err
			}
			if l == "END" {
				return nil
			}
			if !strings.HasPrefix(l, "key=") {
				if first {
					return fmt.Errorf("%w: lru_crawler metadump answered %q (is the crawler enabled, and dumping not disabled with -X?)", ErrUnsupported, l)
				}
				return fmt.Errorf("metadump: unexpected line %q", l)
			}
			first = false
			f := strings.Fields(l)
			for _, kv := range f[1:] {
				if v, ok := strings.CutPrefix(kv, "cls="); ok {
					if cls, err := strconv.Atoi(v); err == nil {
						dumped[cls]++
					}
				}
			}
			ck, err := unescapeMetadump(strings.TrimPrefix(f[0], "key="))
			if err != nil {
				continue
			}
			if s, ok := m.keys.SessionKey(ck); ok && seen.add(ck) {
				batch = append(batch, s)
				batchBytes += min(metaSize(f), m.cfg.MaxValueSize+1)
			}
			if len(batch) >= m.cfg.ScanCount || batchBytes >= scanBytes {
				if fnErr = flush(); fnErr != nil {
					return fnErr
				}
			}
		}
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, fmt.Errorf("memcached %s: %w", m, err)
		}
		return nil, m.fail("metadump", err)
	}
	return dumped, flush()
}

// metaSize is the size= of a metadump line (the item's whole size, a bound
// on its value's).
func metaSize(fields []string) int64 {
	for _, kv := range fields {
		if v, ok := strings.CutPrefix(kv, "size="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				return n
			}
		}
	}
	return 0
}

// unescapeMetadump decodes the %XX escapes metadump writes keys with.
func unescapeMetadump(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("truncated escape")
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

func (m *memcachedClient) readBatch(ctx context.Context, sessions []string, fn func(Item) error) error {
	if len(sessions) == 0 {
		return nil
	}
	items := make([]Item, 0, len(sessions))
	err := m.do(ctx, func(c *mcConn) error {
		// Requests are written while replies are read: memcached stops
		// reading a connection whose replies are not being taken.
		wrote := make(chan error, 1)
		go func() {
			c.nc.SetWriteDeadline(time.Now().Add(m.cfg.WriteTimeout))
			for _, s := range sessions {
				c.w.Write(mgRequest(m.keys.Prefix() + s))
			}
			wrote <- c.w.Flush()
		}()
		now := time.Now()
		for _, s := range sessions {
			it, found, err := m.readItem(c, s, now)
			if err != nil {
				c.nc.SetDeadline(time.Unix(1, 0)) // unblock the writer
				<-wrote
				return err
			}
			if found {
				items = append(items, it)
			}
		}
		return <-wrote
	})
	if err != nil {
		return m.fail("scan: reading values", err)
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}
