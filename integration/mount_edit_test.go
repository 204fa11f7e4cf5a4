package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
)

const (
	baseSession   = `{"_auth_user_id": "1", "v": 1, "cart": ["tea", "mug"], "name": "Zoë"}`
	editedSession = `{"_auth_user_id": "1", "v": 2, "cart": ["tea", "mug"], "name": "Zoë"}`
	newSession    = `{"_auth_user_id": "7", "theme": "dark", "n": 12345678901234567890}`
	// shortSession is baseSession with a line less: saves must truncate.
	shortSession = `{"_auth_user_id": "1", "v": 1, "cart": ["mug"], "name": "Zoë"}`
)

// TestMountShowsDjangoSessions: what Django writes is what cat prints, and
// a change Django makes shows at the next cat.
func TestMountShowsDjangoSessions(t *testing.T) {
	m, dj := mountWithDjango(t)
	datas := []string{baseSession, newSession, `{}`}
	keys := djangoCreate(t, m, dj, datas...)
	out := mustSh(t, `ls "$D"`, "D="+m.Dir)
	for _, key := range keys {
		if !strings.Contains(out, key+".json") {
			t.Errorf("ls does not show %s.json:\n%s", key, out)
		}
	}
	if strings.Contains(out, "sessionid") {
		t.Errorf("ls shows raw backing names:\n%s", out)
	}
	for i, key := range keys {
		if got := mustSh(t, `cat "$F"`, "F="+m.File(key)); got != pretty(t, datas[i]) {
			t.Errorf("cat %s:\n%s\nwant:\n%s", key, got, pretty(t, datas[i]))
		}
		if fi, err := os.Stat(m.File(key)); err != nil || fi.Size() != int64(len(pretty(t, datas[i]))) {
			t.Errorf("stat %s: %v, size %d want %d", key, err, fi.Size(), len(pretty(t, datas[i])))
		}
	}
	dj.Call(t, m.Settings(), harness.OpSave, []harness.SaveItem{{Key: keys[0], Data: []byte(editedSession)}}, nil)
	if got := mustSh(t, `cat "$F"`, "F="+m.File(keys[0])); got != pretty(t, editedSession) {
		t.Errorf("cat after Django's update:\n%s\nwant:\n%s", got, pretty(t, editedSession))
	}
	// Foreign files, Django's temp files, sessions that do not verify and
	// expired sessions never show, in ls or by name.
	os.WriteFile(filepath.Join(m.Backing, "README"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(m.Backing, "sessionid"+keys[0]+"_out_123"), []byte("x"), 0o600)
	forged := "forged0123456789abcdefghijklmnop"
	os.WriteFile(m.BackingFile(forged), []byte("eyJhIjoxfQ:1v2ABC:forgedsignatureforgedsignatureforgedsig"), 0o600)
	expired := time.Now().Add(-15 * 24 * time.Hour) // SESSION_COOKIE_AGE is two weeks
	os.Chtimes(m.BackingFile(keys[2]), expired, expired)
	out = mustSh(t, `ls -a "$D"`, "D="+m.Dir)
	for _, hidden := range []string{"README", "_out_", forged, keys[2]} {
		if strings.Contains(out, hidden) {
			t.Errorf("ls shows %s:\n%s", hidden, out)
		}
	}
	for _, key := range []string{forged, keys[2]} {
		if _, err := os.Stat(m.File(key)); !os.IsNotExist(err) {
			t.Errorf("stat of hidden session %s: %v, want ENOENT", key, err)
		}
	}
}

// TestMountEditFlows: each way of saving a file, with the real tool, ends in
// the session Django loads; the backing session is never missing meanwhile;
// the backing mtime (and so the expiry) does not move; nothing but session
// files reaches the backing directory.
func TestMountEditFlows(t *testing.T) {
	m, dj := mountWithDjango(t)
	tmp := t.TempDir()
	newFile := filepath.Join(tmp, "new.json")
	if err := os.WriteFile(newFile, []byte(newSession), 0o600); err != nil {
		t.Fatal(err)
	}
	emacsEdit := `(progn (goto-char (point-min)) (re-search-forward "\"tea\",\n *") (replace-match "") (save-buffer))`
	// vim's 'backupskip' skips backups (and the 4913 test) under /tmp; cleared,
	// vim does what it does on a mount elsewhere: 4913, rename to KEY.json~,
	// create KEY.json, ftruncate, write, fsync, close, unlink the backup.
	const vim = `vim -es -u DEFAULTS -i NONE -c 'set backupskip=' `
	flows := []struct {
		name, tool, script, want string
		unlinksFirst             bool // the tool removes the target before writing it anew
		after                    func(t *testing.T, key string)
	}{
		{name: "sed -i", tool: "sed", script: `sed -i 's/"v": 1/"v": 2/' "$F"`, want: editedSession},
		{name: "sed -i shorter", tool: "sed", script: `sed -i '/"tea",/d' "$F"`, want: shortSession},
		{name: "vim defaults", tool: "vim", script: vim + `-c 'g/"tea",/d' -c wq "$F"`, want: shortSession},
		{name: "vim backupcopy=yes", tool: "vim", script: vim + `-c 'set backupcopy=yes' -c '%s/"v": 1/"v": 2/' -c wq "$F"`, want: editedSession},
		{name: "vim keeping a backup", tool: "vim",
			script: vim + `-c 'set backup backupcopy=no' -c 'g/"tea",/d' -c wq "$F"`, want: shortSession,
			after: func(t *testing.T, key string) {
				if _, err := os.Stat(m.File(key) + "~"); err != nil {
					t.Errorf("vim's backup %s.json~ is not in the mount: %v", key, err)
				}
			}},
		// emacs locks with the symlink .#KEY.json (a scratch entry) and saves in place.
		{name: "emacs batch", tool: "emacs", script: `emacs -Q --batch "$F" --eval '` + emacsEdit + `'`, want: shortSession},
		{name: "cat >", script: `cat "$NEW" > "$F"`, want: newSession},
		{name: "printf >>", script: `printf '\n\n' >> "$F"`, want: baseSession},
		{name: "cp", tool: "cp", script: `cp "$NEW" "$F"`, want: newSession},
		{name: "mv from the mount", tool: "mv", script: `cp "$NEW" "$D/edited.tmp" && mv "$D/edited.tmp" "$F"`, want: newSession},
		// mv across file systems unlinks the target, then copies: the session
		// is briefly absent and gets a new mtime. Documented; logged here.
		{name: "mv from elsewhere", tool: "mv", script: `cp "$NEW" "$T/edited.json" && mv "$T/edited.json" "$F"`, want: newSession, unlinksFirst: true},
		{name: "truncate", tool: "truncate", script: `truncate -s -1 "$F"`, want: baseSession},
		{name: "python rewrite", tool: harness.SystemPython,
			script: harness.SystemPython + ` -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["v"]=2; f=open(p,"w"); json.dump(d,f,ensure_ascii=False); f.close()' "$F"`,
			want:   editedSession},
	}
	for _, fl := range flows {
		t.Run(fl.name, func(t *testing.T) {
			if fl.tool != "" {
				requireTool(t, fl.tool)
			}
			key := djangoCreate(t, m, dj, baseSession)[0]
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := os.Chtimes(m.BackingFile(key), old, old); err != nil {
				t.Fatal(err)
			}
			watch := mounttest.WatchPresence(m.BackingFile(key))
			mustSh(t, fl.script, "F="+m.File(key), "D="+m.Dir, "NEW="+newFile, "T="+t.TempDir())
			watch.Stop(filepath.Base(m.BackingFile(key)))
			if watch.Err != nil {
				t.Fatal(watch.Err)
			}
			if fl.unlinksFirst {
				t.Logf("%s: the backing session was removed %d times and missing in %d of %d polls (unlink, then create)",
					fl.name, watch.Removed, watch.Missing, watch.Polls)
			} else if watch.Missing > 0 || watch.Removed > 0 {
				t.Errorf("the backing session was removed %d times and missing in %d of %d polls during the edit",
					watch.Removed, watch.Missing, watch.Polls)
			}
			wantDjangoData(t, m, dj, key, fl.want)
			if got := mustSh(t, `cat "$F"`, "F="+m.File(key)); got != pretty(t, fl.want) {
				t.Errorf("cat after the edit:\n%s\nwant:\n%s", got, pretty(t, fl.want))
			}
			fi, err := os.Stat(m.BackingFile(key))
			if err != nil {
				t.Fatal(err)
			}
			if !fi.ModTime().Equal(old) && !fl.unlinksFirst {
				t.Errorf("backing mtime moved from %v to %v: the edit extended the expiry", old, fi.ModTime())
			}
			assertOnlySessionFiles(t, m)
			if fl.after != nil {
				fl.after(t, key)
			}
		})
	}
}

// assertOnlySessionFiles fails t if anything but sessionid<key> files is in
// the backing directory: scratch files must stay in the mount's memory.
func assertOnlySessionFiles(t *testing.T, m *mounttest.Mount) {
	t.Helper()
	ents, err := os.ReadDir(m.Backing)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "sessionid") || strings.Contains(e.Name(), "_") {
			t.Errorf("backing directory holds %s", e.Name())
		}
	}
}

// TestMountTouchAndRm: touch renews the backing mtime (so an mtime-based
// expiry), rm deletes the session for Django.
func TestMountTouchAndRm(t *testing.T) {
	m, dj := mountWithDjango(t)
	key := djangoCreate(t, m, dj, baseSession)[0]
	old := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(m.BackingFile(key), old, old); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	mustSh(t, `touch "$F"`, "F="+m.File(key))
	fi, err := os.Stat(m.BackingFile(key))
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().Before(before) {
		t.Errorf("touch left the backing mtime at %v", fi.ModTime())
	}
	wantDjangoData(t, m, dj, key, baseSession)

	mustSh(t, `rm "$F"`, "F="+m.File(key))
	if got := djangoLoad(t, m, dj, key); got.Existed || string(got.Data) != "{}" {
		t.Errorf("after rm Django loads %+v", got)
	}
	if _, err := os.Stat(m.File(key)); !os.IsNotExist(err) {
		t.Errorf("stat after rm: %v", err)
	}
}

// TestMountCreateAndReKey: a new KEY.json with a valid key creates the
// session; mv a.json b.json re-keys it.
func TestMountCreateAndReKey(t *testing.T) {
	m, dj := mountWithDjango(t)
	key := "newkey0123456789abcdefghijklmnop"
	mustSh(t, `printf '%s' "$S" > "$F"`, "S="+newSession, "F="+m.File(key))
	wantDjangoData(t, m, dj, key, newSession)
	other := "otherkey0123456789abcdefghijklmn"
	mustSh(t, `mv "$A" "$B"`, "A="+m.File(key), "B="+m.File(other))
	wantDjangoData(t, m, dj, other, newSession)
	if got := djangoLoad(t, m, dj, key); got.Existed {
		t.Errorf("old key still exists after mv")
	}
}
