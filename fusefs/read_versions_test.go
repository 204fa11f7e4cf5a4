package fusefs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// TestLostUpdateRefused: a process that read a session and saves it after
// someone else (Django) changed it gets EIO at close, and the other
// change stays; reading again makes the next save go through.
func TestLostUpdateRefused(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		st, _ := opsFixture(t)
		mnt := mountReal(t, st, Options{OverwriteConflicts: overwrite})
		path := filepath.Join(mnt, keyU7+".json")
		mustRead(t, path)
		// Django saves meanwhile.
		if _, err := st.Save(context.Background(), keyU7, []byte(`{"_auth_user_id":"7","django":1}`), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		err := os.WriteFile(path, []byte(`{"_auth_user_id": "7", "mine": 1}`), 0o600)
		sess, loadErr := st.Load(context.Background(), keyU7)
		if loadErr != nil {
			t.Fatal(loadErr)
		}
		if overwrite {
			if err != nil || string(sess.JSON) != `{"_auth_user_id":"7","mine":1}` {
				t.Errorf("--on-conflict=overwrite: %v, store %s", err, sess.JSON)
			}
			continue
		}
		wantErrno(t, "save over a newer version", err, syscall.EIO)
		if string(sess.JSON) != `{"_auth_user_id":"7","django":1}` {
			t.Errorf("the other change was lost: %s", sess.JSON)
		}
		// By rename (sed -i): refused too.
		tmp := filepath.Join(mnt, "sedXYZ")
		if err := os.WriteFile(tmp, []byte(`{"_auth_user_id": "7", "sed": 1}`), 0o600); err != nil {
			t.Fatal(err)
		}
		wantErrno(t, "rename over a newer version", os.Rename(tmp, path), syscall.EIO)
		// Read again, then the save is based on the current version.
		mustRead(t, path)
		if err := os.Rename(tmp, path); err != nil {
			t.Errorf("rename after reading again: %v", err)
		}
		if err := os.WriteFile(path, []byte(`{"_auth_user_id": "7", "mine": 2}`), 0o600); err != nil {
			t.Errorf("second save by the same process: %v", err)
		}
		// Its own touch does not make its next save a conflict.
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(`{"_auth_user_id": "7", "mine": 3}`), 0o600); err != nil {
			t.Errorf("save after its own touch: %v", err)
		}
	}
}
