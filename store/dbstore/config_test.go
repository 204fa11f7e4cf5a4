package dbstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Config // only the fields compared below
		opts map[string]string
	}{
		{url: "sqlite:////srv/site/db.sqlite3", want: Config{Engine: SQLite, Name: "/srv/site/db.sqlite3"}},
		{url: "spatialite:////srv/site/db.sqlite3", want: Config{Engine: SQLite, Name: "/srv/site/db.sqlite3"}},
		{url: "postgres://app@db.example:5433/site?sslmode=require",
			want: Config{Engine: PostgreSQL, Host: "db.example", Port: 5433, User: "app", Name: "site"},
			opts: map[string]string{"sslmode": "require"}},
		{url: "postgresql://app@10.0.0.1/site", want: Config{Engine: PostgreSQL, Host: "10.0.0.1", User: "app", Name: "site"}},
		{url: "postgres://app@[::1]:5432/site", want: Config{Engine: PostgreSQL, Host: "::1", Port: 5432, User: "app", Name: "site"}},
		{url: "postgres://app@%2Fvar%2Frun%2Fpostgresql/site", want: Config{Engine: PostgreSQL, Host: "/var/run/postgresql", User: "app", Name: "site"}},
		{url: "postgres://app@/site?host=/run/pg", want: Config{Engine: PostgreSQL, Host: "/run/pg", User: "app", Name: "site"}},
		{url: "postgres://app@%2Frun%2Fpg/site?port=5433", want: Config{Engine: PostgreSQL, Host: "/run/pg", Port: 5433, User: "app", Name: "site"}},
		{url: "pgsql:///site", want: Config{Engine: PostgreSQL, Name: "site"}},
		{url: "postgres://app:s3cr%40t@db/site", want: Config{Engine: PostgreSQL, Host: "db", User: "app", Password: "s3cr@t", Name: "site"}},
		{url: "postgres://app@db/site?currentSchema=tenant1",
			want: Config{Engine: PostgreSQL, Host: "db", User: "app", Name: "site"},
			opts: map[string]string{"options": "-c search_path=tenant1"}},
		{url: "postgres://app@db/site?connect_timeout=3", want: Config{Engine: PostgreSQL, Host: "db", User: "app", Name: "site", ConnectTimeout: 3 * time.Second}},
		{url: "mysql://app@db:3306/site", want: Config{Engine: MySQL, Host: "db", Port: 3306, User: "app", Name: "site"}},
		{url: "mysql2://app@db/site?charset=utf8mb4", want: Config{Engine: MySQL, Host: "db", User: "app", Name: "site"},
			opts: map[string]string{"charset": "utf8mb4"}},
		{url: "mysql://app@%2Frun%2Fmysqld%2Fmysqld.sock/site", want: Config{Engine: MySQL, Host: "/run/mysqld/mysqld.sock", User: "app", Name: "site"}},
		{url: "mysql://app@localhost/site?unix_socket=/run/my.sock", want: Config{Engine: MySQL, Host: "/run/my.sock", User: "app", Name: "site"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if c.Engine != tc.want.Engine || c.Name != tc.want.Name || c.Host != tc.want.Host || c.Port != tc.want.Port ||
				c.User != tc.want.User || c.Password != tc.want.Password {
				t.Errorf("got engine=%s name=%q host=%q port=%d user=%q pw-set=%v, want %+v",
					c.Engine, c.Name, c.Host, c.Port, c.User, c.Password != "", tc.want)
			}
			if tc.want.ConnectTimeout != 0 && c.ConnectTimeout != tc.want.ConnectTimeout {
				t.Errorf("connect timeout %v, want %v", c.ConnectTimeout, tc.want.ConnectTimeout)
			}
			for k, v := range tc.opts {
				if c.Options[k] != v {
					t.Errorf("option %s = %q, want %q (all: %v)", k, c.Options[k], v, c.Options)
				}
			}
			if c.Table != DefaultTable || !c.UseTZ || c.StatementTimeout != DefaultStatementTimeout {
				t.Errorf("defaults not filled: table %q, use_tz %v, statement timeout %v", c.Table, c.UseTZ, c.StatementTimeout)
			}
		})
	}
}

func TestParseURLRelativeSQLite(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := ParseURL("sqlite:///db.sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Name, "/") || !strings.HasSuffix(c.Name, "/db.sqlite3") {
		t.Errorf("relative sqlite path resolved to %q", c.Name)
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"sqlite://:memory:", "in-memory"},
		{"sqlite://", "in-memory"},
		{"sqlite://host/db", "no host"},
		{"sqlite:////x.db?journal_mode=wal", "not supported"},
		{"redis://localhost/0", "not supported"},
		{"postgres://app@db", "without a database name"},
		{"mysql://app@db/site?read_default_file=~/.my.cnf", "option files"},
		{"mysql://app@db/site?init_command=SET+x", "not supported"},
		{"postgres://app@db:99999/site", "bad port"},
		{"db.example/site", "not a database URL"},
	} {
		if _, err := ParseURL(tc.url); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
}

func TestHasPassword(t *testing.T) {
	for url, want := range map[string]bool{
		"postgres://app:pw@db/site":            true,
		"postgres://app@db/site":               false,
		"postgres://app:@db/site":              false, // an empty password reveals nothing
		"postgres://app@db/site?password=pw":   true,
		"postgres://app@db/site?sslpassword=k": true,
		"mysql://app@db/site?passwd=pw":        true,
		"mysql://app:p%3Aw@db/site":            true,
		"sqlite:////srv/db.sqlite3":            false,
		"postgres://app:pw@db:bad/site":        true, // unparsable port: still a password
	} {
		if got := HasPassword(url); got != want {
			t.Errorf("HasPassword(%q) = %v, want %v", url, got, want)
		}
	}
}

// A Config printed or logged whole never shows its password.
func TestConfigNeverShowsPassword(t *testing.T) {
	const pw = "hunter2-very-secret"
	c, err := ParseURL("postgres://app:" + pw + "@db:5432/site")
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", c, "pw", c.Password)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": fmt.Sprintf("%s", c.Password), "%q": fmt.Sprintf("%q", c.Password), "%x": fmt.Sprintf("%x", c.Password),
		"String": c.String(), "slog": logged.String(), "json": string(js),
	} {
		if strings.Contains(s, pw) {
			t.Errorf("%s shows the password: %s", name, s)
		}
	}
	if got := c.String(); got != "postgresql://app@db:5432/site" {
		t.Errorf("String() = %q", got)
	}
}
