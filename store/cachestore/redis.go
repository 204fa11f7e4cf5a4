package cachestore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/offheap"
)

// Redis: reads and the writes that compare run as Lua scripts, one atomic
// round trip each (a read's value, TTL and length agree). A
// version is the SHA-1 of the value, which a script computes with
// redis.sha1hex.

type redisClient struct {
	cfg  Config
	keys Keys
	rdb  *redis.Client
}

// redisLog sends go-redis's own messages (dropped connections, redials) to
// slog at debug level: every failure that matters reaches the caller as an
// error, and go-redis would otherwise print to stderr.
type redisLog struct{}

func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

var setRedisLogger sync.Once

func newRedis(cfg Config, keys Keys) *redisClient {
	setRedisLogger.Do(func() { redis.SetLogger(redisLog{}) })
	opt := &redis.Options{
		Network:               cfg.Location.Network,
		Addr:                  cfg.Location.Addr,
		Username:              cfg.Username,
		Password:              cfg.Password,
		DB:                    cfg.Location.DB,
		DialTimeout:           cfg.DialTimeout,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		PoolTimeout:           cfg.DialTimeout + cfg.ReadTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1, // a timed-out write may have happened: report it, never repeat it
		PoolSize:              8,
		DisableIdentity:       true,
		Protocol:              2,
	}
	if cfg.Location.TLS {
		host, _, _ := net.SplitHostPort(cfg.Location.Addr)
		opt.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return &redisClient{cfg: cfg, keys: keys, rdb: redis.NewClient(opt)}
}

func (c *redisClient) Keys() Keys          { return c.keys }
func (c *redisClient) MaxValueSize() int64 { return c.cfg.MaxValueSize }
func (c *redisClient) String() string      { return c.cfg.Location.String() }
func (c *redisClient) Close() error        { return c.fail("close", c.rdb.Close()) }
func (c *redisClient) secrets() []string   { return []string{c.cfg.Password} }

// fail wraps a server or network error with the operation and the server,
// without the password.
func (c *redisClient) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return redact(unavailable(fmt.Errorf("redis %s: %s: %w", c, op, err)), c.secrets()...)
}

func (c *redisClient) Ping(ctx context.Context) error {
	return c.fail("ping", c.rdb.Ping(ctx).Err())
}

// expiry turns a PTTL answer into an absolute time: -1 is no TTL.
func expiry(now time.Time, pttl time.Duration) time.Time {
	if pttl < 0 {
		return time.Time{}
	}
	return now.Add(pttl)
}

// readScript reads each key of KEYS in one atomic round trip: {PTTL,
// STRLEN, value} for a string of at most ARGV[1] bytes, {PTTL, STRLEN} for
// a larger one, whose bytes never leave the server, {-2} for a missing key
// and {-3} for a key of another type.
const readScript = `
local out = {}
local max = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k).ok
  if t == 'none' then
    out[i] = {-2}
  elseif t ~= 'string' then
    out[i] = {-3}
  else
    local n = redis.call('STRLEN', k)
    local p = redis.call('PTTL', k)
    if n > max then
      out[i] = {p, n}
    else
      out[i] = {p, n, redis.call('GET', k)}
    end
  end
end
return out`

var readLua = redis.NewScript(readScript)

// read reads the given cache keys with readScript.
func (c *redisClient) read(ctx context.Context, cacheKeys []string) ([]any, error) {
	res, err := readLua.Run(ctx, c.rdb, cacheKeys, c.cfg.MaxValueSize).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(cacheKeys) {
		return nil, fmt.Errorf("the read script answered %d values for %d keys", len(res), len(cacheKeys))
	}
	return res, nil
}

// item makes an Item of one answer of readScript; found is false for a
// missing key.
func (c *redisClient) item(answer any, session string, now time.Time) (it Item, found bool, err error) {
	a, ok := answer.([]any)
	if !ok || len(a) == 0 {
		return Item{}, false, fmt.Errorf("unexpected answer %T to a read", answer)
	}
	num := func(i int) int64 { n, _ := a[i].(int64); return n }
	switch {
	case len(a) == 1 && num(0) == -2:
		return Item{}, false, nil
	case len(a) == 1:
		return Item{Key: session, Err: ErrWrongType}, true, nil
	case len(a) < 2:
		return Item{}, false, fmt.Errorf("unexpected answer %v to a read", a)
	}
	it = Item{Key: session, Expiry: expiry(now, time.Duration(num(0))*time.Millisecond), Size: num(1)}
	if len(a) == 2 {
		it.Err = fmt.Errorf("%w: a value of %d bytes (limit %d)", store.ErrTooLarge, it.Size, c.cfg.MaxValueSize)
		it.Version = redisSizeVersion(it.Size)
		return it, true, nil
	}
	val, ok := a[2].(string)
	if !ok {
		return Item{}, false, fmt.Errorf("unexpected value %T in a read", a[2])
	}
	it.Value = []byte(val)
	it.Version = redisVersion(it.Value)
	return it, true, nil
}

// ErrWrongType: a key under the session prefix does not hold a string.
var ErrWrongType = errors.New("the key does not hold a string value")

func (c *redisClient) Get(ctx context.Context, session string) (Item, error) {
	ck, err := c.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	now := time.Now()
	res, err := c.read(ctx, []string{ck})
	if err != nil {
		return Item{}, c.fail("get "+session, err)
	}
	it, found, err := c.item(res[0], session, now)
	if err != nil {
		return Item{}, c.fail("get "+session, err)
	}
	if !found {
		return Item{}, fmt.Errorf("%w: %s", store.ErrNotFound, session)
	}
	if it.Err != nil {
		return it, fmt.Errorf("session %s: %w", session, it.Err)
	}
	return it, nil
}

// isRedisReply reports an error the server answered for one command of a
// transaction (WRONGTYPE): the other answers are still good.
func isRedisReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

func ms(d time.Duration) int64 {
	if m := d.Milliseconds(); m > 0 {
		return m
	}
	return 1
}

func (c *redisClient) checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache: TTL %v: Django deletes a session whose expiry age is not positive, never stores it", ttl)
	}
	return nil
}

func (c *redisClient) Add(ctx context.Context, session string, value []byte, flags uint32, ttl time.Duration) (Item, error) {
	ck, err := c.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	if err := c.checkTTL(ttl); err != nil {
		return Item{}, err
	}
	now := time.Now()
	ok, err := c.rdb.SetNX(ctx, ck, value, time.Duration(ms(ttl))*time.Millisecond).Result()
	if err != nil {
		return Item{}, c.fail("add "+session, err)
	}
	if !ok {
		return Item{}, fmt.Errorf("%w: %s", store.ErrExists, session)
	}
	return Item{Key: session, Value: value, Size: int64(len(value)), Expiry: now.Add(ttl), Version: redisVersion(value)}, nil
}

// Scripts answer -2 for a missing key, -3 for another version (or a key
// that holds no string), else the PTTL after the change (-1: no TTL).
// ARGV[1] is the version to compare: the SHA-1 of the value, or "#<size>"
// for a value over the size bound, which is never read or hashed; "" (for
// a renewal) accepts any version.
const (
	checkLua = `
local function check(key, want)
  local t = redis.call('TYPE', key).ok
  if t == 'none' then return -2 end
  if t ~= 'string' then return -3 end
  if want == '' then return 0 end
  if string.sub(want, 1, 1) == '#' then
    if redis.call('STRLEN', key) ~= tonumber(string.sub(want, 2)) then return -3 end
  elseif redis.sha1hex(redis.call('GET', key)) ~= want then
    return -3
  end
  return 0
end
local r = check(KEYS[1], ARGV[1])
if r ~= 0 then return r end
`
	casScript = checkLua + `
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return redis.call('PTTL', KEYS[1])`
	ttlScript = checkLua + `
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('PTTL', KEYS[1])`
	delScript = checkLua + `
return redis.call('DEL', KEYS[1])`
)

var (
	casLua = redis.NewScript(casScript)
	ttlLua = redis.NewScript(ttlScript)
	delLua = redis.NewScript(delScript)
)

// scriptAnswer maps a script's -2/-3 to the store's errors.
func scriptAnswer(session string, n int64) error {
	switch n {
	case -2:
		return fmt.Errorf("%w: %s", store.ErrNotFound, session)
	case -3:
		return fmt.Errorf("%w: %s", store.ErrConflict, session)
	}
	return nil
}

func (c *redisClient) versionArg(v Version) (string, error) {
	if size, ok := v.redisSize(); ok {
		return "#" + strconv.FormatInt(size, 10), nil
	}
	if v[0] != 'r' {
		return "", fmt.Errorf("%w: not a Redis version", store.ErrConflict)
	}
	return v.sha1Hex(), nil
}

func (c *redisClient) CompareAndSet(ctx context.Context, session string, ifMatch Version, value []byte, flags uint32, ttl time.Duration) (Item, error) {
	ck, err := c.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	if ttl < 0 {
		return Item{}, c.checkTTL(ttl)
	}
	want, err := c.versionArg(ifMatch)
	if err != nil {
		return Item{}, err
	}
	px := "0"
	if ttl != KeepTTL {
		px = strconv.FormatInt(ms(ttl), 10)
	}
	now := time.Now()
	n, err := casLua.Run(ctx, c.rdb, []string{ck}, want, value, px).Int64()
	if err != nil {
		return Item{}, c.fail("compare-and-set "+session, err)
	}
	if err := scriptAnswer(session, n); err != nil {
		return Item{}, err
	}
	return Item{Key: session, Value: value, Size: int64(len(value)), Expiry: expiry(now, time.Duration(n)*time.Millisecond),
		Version: redisVersion(value)}, nil
}

func (c *redisClient) SetTTL(ctx context.Context, session string, ifMatch Version, ttl time.Duration) (Item, error) {
	ck, err := c.keys.CacheKey(session)
	if err != nil {
		return Item{}, err
	}
	if err := c.checkTTL(ttl); err != nil {
		return Item{}, err
	}
	want := ""
	if !ifMatch.IsZero() {
		if want, err = c.versionArg(ifMatch); err != nil {
			return Item{}, err
		}
	}
	now := time.Now()
	n, err := ttlLua.Run(ctx, c.rdb, []string{ck}, want, ms(ttl)).Int64()
	if err != nil {
		return Item{}, c.fail("renew "+session, err)
	}
	if err := scriptAnswer(session, n); err != nil {
		return Item{}, err
	}
	return Item{Key: session, Expiry: expiry(now, time.Duration(n)*time.Millisecond), Version: ifMatch}, nil
}

func (c *redisClient) DeleteIf(ctx context.Context, session string, ifMatch Version) error {
	ck, err := c.keys.CacheKey(session)
	if err != nil {
		return err
	}
	want, err := c.versionArg(ifMatch)
	if err != nil {
		return err
	}
	n, err := delLua.Run(ctx, c.rdb, []string{ck}, want).Int64()
	if err != nil {
		return c.fail("delete "+session, err)
	}
	return scriptAnswer(session, n)
}

func (c *redisClient) Delete(ctx context.Context, session string) error {
	ck, err := c.keys.CacheKey(session)
	if err != nil {
		return err
	}
	n, err := c.rdb.Del(ctx, ck).Result()
	if err != nil {
		return c.fail("delete "+session, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", store.ErrNotFound, session)
	}
	return nil
}

// globEscape escapes the glob characters of a literal for SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Scan walks the keyspace with SCAN MATCH (never KEYS), reads each batch's
// values and TTLs with one script call, and remembers a 64-bit hash of each
// key it has handed out (SCAN may return a key twice): memory is one batch
// of values plus 8 bytes per session.
func (c *redisClient) Scan(ctx context.Context, fn func(Item) error) error {
	match := globEscape(c.keys.Prefix()) + "*"
	seen := newSeenSet()
	defer seen.release()
	var cursor uint64
	for {
		keys, next, err := c.rdb.Scan(ctx, cursor, match, int64(c.cfg.ScanCount)).Result()
		if err != nil {
			return c.fail("scan", err)
		}
		var batch []string
		for _, ck := range keys {
			if s, ok := c.keys.SessionKey(ck); ok && seen.add(ck) {
				batch = append(batch, s)
			}
		}
		if err := c.readBatch(ctx, batch, fn); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// readBatch reads a batch of keys: first their lengths (one pipeline), then
// the values in groups of at most scanBytes, each group in one script call. A
// listing holds one group of values at a time, whatever the values weigh.
func (c *redisClient) readBatch(ctx context.Context, sessions []string, fn func(Item) error) error {
	if len(sessions) == 0 {
		return nil
	}
	lens := make([]*redis.IntCmd, len(sessions))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range sessions {
			lens[i] = p.StrLen(ctx, c.keys.Prefix()+s)
		}
		return nil
	})
	if err != nil && !isRedisReply(err) {
		return c.fail("scan: reading lengths", err)
	}
	for start := 0; start < len(sessions); {
		end, bytes := start, int64(0)
		for end < len(sessions) && (end == start || bytes+min(lens[end].Val(), c.cfg.MaxValueSize+1) <= scanBytes) {
			bytes += min(lens[end].Val(), c.cfg.MaxValueSize+1)
			end++
		}
		if err := c.readGroup(ctx, sessions[start:end], fn); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// scanBytes bounds the values a listing holds in memory at once.
const scanBytes = 32 << 20

func (c *redisClient) readGroup(ctx context.Context, sessions []string, fn func(Item) error) error {
	keys := make([]string, len(sessions))
	for i, s := range sessions {
		keys[i] = c.keys.Prefix() + s
	}
	now := time.Now()
	res, err := c.read(ctx, keys)
	if err != nil {
		return c.fail("scan: reading values", err)
	}
	for i, s := range sessions {
		it, found, err := c.item(res[i], s, now)
		if err != nil {
			return c.fail("scan: reading "+s, err)
		}
		if !found { // expired or deleted since SCAN saw it
			continue
		}
		res[i] = nil // let the value go once handed over
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// seenSet holds 64-bit hashes of keys, seeded per scan so that no one can
// choose keys that collide. A listing of a million keys holds a million
// hashes, in an open-addressing table mapped outside the Go heap
// (offheap.Zeroed): 8 to 16 bytes a key, which neither the collector scans
// nor its pacing counts. release returns the memory at the end of a scan.
type seenSet struct {
	seed  maphash.Seed
	slots []uint64 // linear probing; 0 is empty
	mem   []byte
	n     int
}

func newSeenSet() *seenSet { return &seenSet{seed: maphash.MakeSeed()} }

// add reports whether key was new.
func (s *seenSet) add(key string) bool {
	h := maphash.String(s.seed, key) | 1 // never 0, the empty slot
	if (s.n+1)*4 > len(s.slots)*3 {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return false
		case 0:
			s.slots[i] = h
			s.n++
			return true
		}
	}
}

// grow doubles the table.
func (s *seenSet) grow() {
	old, oldMem := s.slots, s.mem
	s.slots, s.mem = offheap.Zeroed[uint64](max(1024, 2*len(old)))
	mask := uint64(len(s.slots) - 1)
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
	}
	offheap.Release(oldMem)
}

// release returns the table's memory; the set is empty afterwards.
func (s *seenSet) release() {
	offheap.Release(s.mem)
	s.slots, s.mem, s.n = nil, nil, 0
}
