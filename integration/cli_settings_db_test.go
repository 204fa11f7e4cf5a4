package integration

// The database settings' cases of TestSettingsFlagBeatsEnvironment, on
// SQLite files made here (no server needed).

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sessionfs/sessionfs/codec"
)

// sqliteSessionDB makes a SQLite file with Django's session table (and
// the tables named in extra, of the same shape) holding rows, table ->
// key -> naive expire_date text; it returns the file's URL.
func sqliteSessionDB(t *testing.T, dir, name string, rows map[string]map[string]string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	data := string(encodeWith(t, codec.Config{SecretKey: []byte(settingsSecret)}, codec.EncodeOptions{}, `{"a": 1}`))
	for table, keys := range rows {
		for _, q := range []string{
			`CREATE TABLE "` + table + `" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
			`CREATE INDEX "` + table + `_expire_date" ON "` + table + `" ("expire_date")`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for key, expire := range keys {
			if _, err := db.Exec(`INSERT INTO "`+table+`" VALUES (?, ?, ?)`, key, data, expire); err != nil {
				t.Fatal(err)
			}
		}
	}
	return "sqlite:///" + path
}

// byExpired tells flag from environment by whether ls --json --expired
// lists key: the flag's value keeps it live.
func byExpired(key string) func(cliResult) string {
	return func(res cliResult) string {
		switch {
		case res.code != 0:
			return exitText(res)
		case strings.TrimSpace(res.stdout) == "":
			return "flag"
		case strings.Contains(res.stdout, `"key":"`+key+`"`):
			return "env"
		}
		return "ls listed: " + res.stdout
	}
}

func dbSettingCases(t *testing.T) []settingCase {
	base := t.TempDir()
	far := "2099-01-01 00:00:00"
	flagURL := sqliteSessionDB(t, base, "flag.sqlite3", map[string]map[string]string{
		"django_session": {"flagsess1": far},
		"other_session":  {"tablesess1": far},
	})
	envURL := sqliteSessionDB(t, base, "env.sqlite3", map[string]map[string]string{"django_session": {"envsess01": far}})
	// A naive expire_date an hour ahead in UTC: live read as UTC, expired
	// eight hours ago read as Tokyo's wall clock.
	tzURL := sqliteSessionDB(t, base, "tz.sqlite3", map[string]map[string]string{
		"django_session": {"tzsess0001": time.Now().UTC().Add(time.Hour).Format("2006-01-02 15:04:05.000000")},
	})
	flagFile := writeFile(t, base, "flag.url", []byte(flagURL+"\n"))
	envFile := writeFile(t, base, "env.url", []byte(envURL+"\n"))

	fixed := func(r settingRun) func(*testing.T) settingRun { return func(*testing.T) settingRun { return r } }
	ls := []string{"ls", "--json"}
	return []settingCase{
		{"session-engine", fixed(settingRun{
			env: []string{"SESSION_ENGINE=file", "DATABASE_URL=" + flagURL}, flag: []string{"--session-engine", "db"},
			cmd: ls, effect: byListing("flagsess1", "agedsess1"),
		})},
		{"database-url", fixed(settingRun{
			env: []string{"SESSION_ENGINE=db", "DATABASE_URL=" + envURL}, flag: []string{"--database-url", flagURL},
			cmd: ls, effect: byListing("flagsess1", "envsess01"),
		})},
		{"database-url-file", fixed(settingRun{
			env: []string{"SESSION_ENGINE=db", "DATABASE_URL_FILE=" + envFile}, flag: []string{"--database-url-file", flagFile},
			cmd: ls, effect: byListing("flagsess1", "envsess01"),
		})},
		{"db-table", fixed(settingRun{
			env: []string{"SESSION_ENGINE=db", "DATABASE_URL=" + flagURL, "SESSION_DB_TABLE=django_session"}, flag: []string{"--db-table", "other_session"},
			cmd: ls, effect: byListing("tablesess1", "flagsess1"),
		})},
		{"use-tz", fixed(settingRun{
			env: []string{"SESSION_ENGINE=db", "DATABASE_URL=" + tzURL, "USE_TZ=false", "TIME_ZONE=Asia/Tokyo"}, flag: []string{"--use-tz"},
			cmd: []string{"ls", "--json", "--expired"}, effect: byExpired("tzsess0001"),
		})},
		{"time-zone", fixed(settingRun{
			env: []string{"SESSION_ENGINE=db", "DATABASE_URL=" + tzURL, "USE_TZ=false", "TIME_ZONE=Asia/Tokyo"}, flag: []string{"--time-zone", "UTC"},
			cmd: []string{"ls", "--json", "--expired"}, effect: byExpired("tzsess0001"),
		})},
		{"db-time-zone", fixed(settingRun{
			env: []string{"SESSION_ENGINE=db", "DATABASE_URL=" + tzURL, "DB_TIME_ZONE=Asia/Tokyo"}, flag: []string{"--db-time-zone", "UTC"},
			cmd: []string{"ls", "--json", "--expired"}, effect: byExpired("tzsess0001"),
		})},
	}
}
