package main

import (
	"fmt"
	"net/url"
	"os"

	"github.com/sessionfs/sessionfs/integration/dbtest"
)

// mountBackend starts `sessionfs mount` of a database or cache backend
// (args choose it) at mnt.
func (b *bench) mountBackend(mnt string, args []string) (*server, error) {
	argv := append([]string{b.bin, "mount"}, args...)
	return b.startServer(append(argv, mnt), "sessionfs: mounted", mnt, []string{b.bin, "umount", mnt})
}

// pgArgs are the settings of sessionfs over PostgreSQL database d, over
// TCP as Django's. The password goes in PGPASSWORD, never on a command
// line: it is set here for the commands started next (this program runs
// one at a time).
func (b *bench) pgArgs(d *dbtest.Database) []string {
	os.Setenv("PGPASSWORD", d.Password)
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", url.User(d.User).String(), d.Server.Host, d.Server.Port, d.Name)
	return []string{"--secret-key-file", b.keyFile, "--session-engine", "db", "--database-url", u}
}

// sqliteArgs are the settings of sessionfs over a SQLite file.
func (b *bench) sqliteArgs(path string) []string {
	return []string{"--secret-key-file", b.keyFile, "--session-engine", "db", "--database-url", "sqlite:///" + path}
}

// redisArgs are the settings of sessionfs over the Redis at location,
// whose sessions django-redis wrote.
func (b *bench) redisArgs(location string) []string {
	return []string{"--secret-key-file", b.keyFile, "--session-engine", "cache", "--cache-url", location, "--cache-backend", djangoRedis}
}
