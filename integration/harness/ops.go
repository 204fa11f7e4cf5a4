package harness

import "encoding/json"

// Request and answer shapes of djsession.py's ops. Session data travels as
// json.RawMessage so that key order and big integers survive unchanged.

// Op names.
const (
	OpInfo         = "info"          // req nil -> Info
	OpEncode       = "encode"        // []json.RawMessage -> []string (SessionStore().encode)
	OpDecode       = "decode"        // []string -> []DecodeResult (SessionStore().decode)
	OpSave         = "save"          // []SaveItem -> []SaveResult (the backend's save)
	OpLoad         = "load"          // []string keys -> []LoadResult (the backend's load)
	OpExists       = "exists"        // []string keys -> []bool
	OpCreate       = "create"        // []json.RawMessage -> []string new keys
	OpDelete       = "delete"        // []string keys -> nil
	OpClearExpired = "clear_expired" // nil -> nil (SessionStore.clear_expired())
	OpMigrate      = "migrate"       // nil -> []string tables (manage.py migrate; Settings.Database)
	OpRows         = "rows"          // []string keys or nil for all -> []Row (the session model's rows)
	OpLogin        = "login"         // []LoginItem -> []LoginResult (django.contrib.auth login(), saved under Key)
	OpLoopSave     = "loop_save"     // LoopSaveRequest -> LoopResult
	OpLoopLoad     = "loop_load"     // LoopLoadRequest -> LoopResult
	OpBenchDecode  = "bench_decode"  // BenchRequest -> BenchResult
	// The benchmark's loop-only timings of the file backend (integration/bench).
	OpBenchLoad         = "bench_load"          // BenchLoadRequest -> BenchResult
	OpBenchSave         = "bench_save"          // BenchSaveRequest -> BenchResult
	OpBenchClearExpired = "bench_clear_expired" // nil -> BenchResult
)

// Info is what OpInfo answers.
type Info struct {
	Version string `json:"version"` // django.get_version()
	Python  string `json:"python"`
}

// DecodeResult is one SessionStore().decode(text). Django returns {} for
// data it rejects (bad signature, corrupt payload); some corrupt data makes
// 3.2 raise instead (spec 3.4): then OK is false and Error names the exception.
type DecodeResult struct {
	OK      bool            `json:"ok"`
	Data    json.RawMessage `json:"data"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

// SaveItem is one file-backend save(must_create).
type SaveItem struct {
	Key        string          `json:"key"`
	Data       json.RawMessage `json:"data"`
	MustCreate bool            `json:"must_create"`
}

// LoginItem logs user UserID in with django.contrib.auth's login() and saves
// the session, with Extra members added, under Key.
type LoginItem struct {
	Key    string         `json:"key"`
	UserID string         `json:"user_id"`
	Extra  map[string]any `json:"extra,omitempty"`
}

// LoginResult is the session login() made.
type LoginResult struct {
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data"`
}

// SaveResult: OK, or Error "CreateError" / "UpdateError".
type SaveResult struct {
	OK    bool   `json:"ok"`
	Key   string `json:"key"`
	Error string `json:"error"`
}

// LoadResult is SessionStore(key).load().
type LoadResult struct {
	OK          bool            `json:"ok"` // false: load raised Error (e.g. UnicodeDecodeError, binascii.Error)
	Data        json.RawMessage `json:"data"`
	Key         *string         `json:"key"`      // session_key after load: nil = dropped (missing file, invalid key)
	KeyKept     bool            `json:"key_kept"` // load kept the key (false: dropped, or expired and re-created)
	Existed     bool            `json:"existed"`  // the file (or row, expired or not) existed before load
	ExistsAfter bool            `json:"exists_after"`
	Error       string          `json:"error"`
	Message     string          `json:"message"`
}

// LoopSaveRequest saves Sessions round-robin for Seconds, or until StopFile
// exists; ReadyFile is created once Django is set up and the loop starts.
type LoopSaveRequest struct {
	Sessions  []SaveItem `json:"sessions"`
	Seconds   float64    `json:"seconds"`
	StopFile  string     `json:"stop_file,omitempty"`
	ReadyFile string     `json:"ready_file,omitempty"`
}

// LoopLoadRequest loads Keys round-robin. Want[key], when given, lists the
// sessions a load may return; otherwise any non-empty session is fine.
type LoopLoadRequest struct {
	Keys      []string                     `json:"keys"`
	Want      map[string][]json.RawMessage `json:"want,omitempty"`
	Seconds   float64                      `json:"seconds"`
	StopFile  string                       `json:"stop_file,omitempty"`
	ReadyFile string                       `json:"ready_file,omitempty"`
}

// LoopResult counts iterations and failures (exceptions or wrong data).
type LoopResult struct {
	Iterations int      `json:"iterations"`
	Errors     int      `json:"errors"`
	Samples    []string `json:"samples"` // up to 10 failure descriptions
}

// BenchRequest times SessionStore().decode over Texts, best of Rounds.
type BenchRequest struct {
	Texts  []string `json:"texts"`
	Rounds int      `json:"rounds"`
}

// BenchResult: the best round's wall time of the decode loop alone.
type BenchResult struct {
	Seconds  float64 `json:"seconds"`
	N        int     `json:"n"`
	Failures int     `json:"failures"` // decodes that returned {}
}

// BenchLoadRequest times SessionStore(session_key=key).load() over Keys, best
// of Rounds. Failures counts loads that returned {} or dropped the key.
type BenchLoadRequest struct {
	Keys   []string `json:"keys"`
	Rounds int      `json:"rounds"`
}

// BenchSaveRequest times SessionStore(session_key=key) filled with the data,
// then save(), over Sessions, once: a second round would save what is
// already there.
type BenchSaveRequest struct {
	Sessions []SaveItem `json:"sessions"`
}

// Row is one row of the session model as Django reads it (OpRows).
// ExpireDate is ISO 8601: aware (UTC offset) with USE_TZ, naive local time
// in TIME_ZONE without.
type Row struct {
	Key        string `json:"key"`
	Data       string `json:"data"`
	ExpireDate string `json:"expire_date"`
}
