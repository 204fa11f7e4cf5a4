package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

// djangoRedis is the cache backend of the Redis rows: django-redis, the
// one Django 3.2 sites use, with its defaults (pickle, no compression, no
// KEY_PREFIX, VERSION 1).
const djangoRedis = "django_redis.cache.RedisCache"

// cacheKeyPrefix is what Django's cache session backend puts before a
// session key (KEY_PREFIX "", VERSION 1).
const cacheKeyPrefix = ":1:django.contrib.sessions.cache"

// Redis databases of the rows: sessionfs's copy, Django's copy, and the
// million sessions.
const (
	redisOurs   = 0
	redisDjango = 1
	redisBig    = 2
)

// cacheRows: Django's cache backend on Redis. The first `ls -l` through a
// fresh mount against a redis-py loop that reads every session, `revoke`
// against Django-side code doing the same, then `ls` and `ls -l` of a
// million sessions under the memory ceiling (the times compared with
// reading the same keys and values with go-redis).
func (b *bench) cacheRows() ([]row, error) {
	progress("starting Redis")
	srv, err := cachetest.StartRedis()
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	n := b.backend.cache
	for _, db := range []int{redisOurs, redisDjango} {
		if err := b.redisPopulate(srv, db, n); err != nil {
			return nil, err
		}
	}
	location := func(db int) string { return fmt.Sprintf("redis://%s/%d", srv.Addr, db) }
	progress("redis-py SCAN + GET + pickle.loads of %d sessions", n)
	pyList, seen, err := b.runDjangoBackend(djangoBackendReq{Op: "redis_list",
		Cache: map[string]any{"location": location(redisOurs), "backend": djangoRedis}})
	if err != nil {
		return nil, err
	}
	if seen != n {
		return nil, fmt.Errorf("redis-py read %d sessions, want %d", seen, n)
	}
	progress("ls -l through a fresh mount of Redis")
	m, err := b.mountBackend(b.path("mnt-redis"), b.redisArgs(location(redisOurs)))
	if err != nil {
		return nil, err
	}
	first, err := countListing(fmt.Sprintf("ls -l %q | wc -l", m.dir), n+1)
	var firstRSS int64
	if err == nil {
		firstRSS, err = m.peakRSS()
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	progress("Django-side revoke loop (django-redis)")
	djRevoke, removed, err := b.runDjangoBackend(djangoBackendReq{Op: "redis_revoke", User: revokeUser,
		Cache: map[string]any{"location": location(redisDjango), "backend": djangoRedis}})
	if err != nil {
		return nil, err
	}
	if want := revokeCount(n); removed != want {
		return nil, fmt.Errorf("the Django-side revoke removed %d sessions, want %d", removed, want)
	}
	progress("sessionfs revoke --user --dry-run")
	dry, dryRSS, err := b.runCLI(append(b.redisArgs(location(redisOurs)), "revoke", "--dry-run", "--user", revokeUser)...)
	if err != nil {
		return nil, err
	}
	progress("sessionfs revoke --user")
	revoke, revokeRSS, err := b.runCLI(append(b.redisArgs(location(redisOurs)), "revoke", "--user", revokeUser)...)
	if err != nil {
		return nil, err
	}
	if err := redisCount(srv, redisOurs, n-removed); err != nil {
		return nil, fmt.Errorf("after revoke: %w", err)
	}
	rows := []row{
		{id: "cache1", what: fmt.Sprintf("ls -l of %d sessions, Redis, first after mount", n), ours: first,
			other: "redis-py SCAN + GET + pickle.loads", theirs: pyList, target: faster, rss: firstRSS},
		{id: "cache2", what: fmt.Sprintf("revoke --user of %d of %d sessions, Redis", removed, n), ours: revoke,
			other: "Django-side loop: iter_keys, get, delete", theirs: djRevoke, target: atLeastFaster(5), rss: revokeRSS},
		{id: "cache2b", what: fmt.Sprintf("revoke --user --dry-run of %d sessions, Redis", n), ours: dry,
			other: "Django-side loop: iter_keys, get, delete", theirs: djRevoke, rss: dryRSS},
	}
	// The million sessions have the server to themselves.
	for _, db := range []int{redisOurs, redisDjango} {
		if err := redisClient(srv, db).FlushDB(context.Background()).Err(); err != nil {
			return nil, err
		}
	}
	big, err := b.redisBigRows(srv, location(redisBig), b.backend.cacheB)
	if err != nil {
		return nil, err
	}
	return append(rows, big...), nil
}

// redisBigRows: `ls` and `ls -l` of n sessions through a fresh mount.
func (b *bench) redisBigRows(srv *cachetest.Server, location string, n int) ([]row, error) {
	if err := b.redisPopulate(srv, redisBig, n); err != nil {
		return nil, err
	}
	progress("go-redis SCAN, and SCAN + MGET, of %d sessions", n)
	keysOnly, err := redisRead(srv, redisBig, n, false)
	if err != nil {
		return nil, err
	}
	withValues, err := redisRead(srv, redisBig, n, true)
	if err != nil {
		return nil, err
	}
	progress("ls and ls -l of %d sessions through a fresh mount of Redis", n)
	m, err := b.mountBackend(b.path("mnt-redis-big"), b.redisArgs(location))
	if err != nil {
		return nil, err
	}
	var namesRSS, longRSS int64
	var long time.Duration
	names, err := countListing(fmt.Sprintf("ls %q | wc -l", m.dir), n)
	if err == nil {
		namesRSS, err = m.peakRSS()
	}
	if err == nil {
		long, err = countListing(fmt.Sprintf("ls -l %q | wc -l", m.dir), n+1)
	}
	if err == nil {
		longRSS, err = m.peakRSS()
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	return []row{
		{id: "cache3", what: fmt.Sprintf("ls of %d sessions (names), Redis, fresh mount", n), ours: names,
			other: "SCAN of the keys (go-redis)", theirs: keysOnly, target: rssAtMost(150), rss: namesRSS},
		{id: "cache4", what: fmt.Sprintf("then ls -l of the %d sessions", n), ours: long,
			other: "SCAN + MGET of every value (go-redis)", theirs: withValues, target: rssAtMost(150), rss: longRSS},
	}, nil
}

func redisClient(srv *cachetest.Server, db int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: srv.Addr, DB: db})
}

// redisPopulate stores n sessions in Redis database db as django-redis
// does (pickled dicts under the cache backend's keys, with the cookie age
// as TTL), pipelined.
func (b *bench) redisPopulate(srv *cachetest.Server, db, n int) error {
	progress("writing %d sessions to Redis database %d", n, db)
	cc, err := codec.NewCacheCodec(codec.CacheValueOptions{Client: codec.ClientDjangoRedis})
	if err != nil {
		return err
	}
	encode := func(data []byte) ([]byte, error) {
		v, _, err := cc.Encode(data)
		return v, err
	}
	c := redisClient(srv, db)
	defer c.Close()
	ctx := context.Background()
	return b.generate(n, encode, func(batch []generated) error {
		p := c.Pipeline()
		for _, g := range batch {
			p.Set(ctx, cacheKeyPrefix+g.key, g.value, cookieAge)
		}
		_, err := p.Exec(ctx)
		return err
	})
}

// redisRead times reading every session key (and, withValues, every value
// with MGET per SCAN page) with go-redis: the floor of listing.
func redisRead(srv *cachetest.Server, db, n int, withValues bool) (time.Duration, error) {
	c := redisClient(srv, db)
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	got := 0
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, cacheKeyPrefix+"*", 1000).Result()
		if err != nil {
			return 0, err
		}
		got += len(keys)
		if withValues && len(keys) > 0 {
			if err := c.MGet(ctx, keys...).Err(); err != nil {
				return 0, err
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if got != n {
		return 0, fmt.Errorf("SCAN found %d keys, want %d", got, n)
	}
	return time.Since(start), nil
}

// redisCount checks how many keys Redis database db holds.
func redisCount(srv *cachetest.Server, db, want int) error {
	c := redisClient(srv, db)
	defer c.Close()
	got, err := c.DBSize(context.Background()).Result()
	if err != nil {
		return err
	}
	if int(got) != want {
		return fmt.Errorf("%d keys left, want %d", got, want)
	}
	return nil
}
