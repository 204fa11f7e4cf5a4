package fusefs

import "strings"

// sessionSuffix marks the names that are sessions: <key>.json.
const sessionSuffix = ".json"

// sessionKey returns the session key a name stands for, and false for
// scratch names. Names starting with '.' or '#' are never sessions, whatever
// they end with: emacs's lock symlink is ".#KEY.json", and no Django key
// starts with either character. The key is not validated here: the store
// is the one gate for keys, so "Upper.json" is a session name whose key the
// store refuses (EINVAL), not a scratch file.
func sessionKey(name string) (string, bool) {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return "", false
	}
	key, ok := strings.CutSuffix(name, sessionSuffix)
	if !ok || key == "" {
		return "", false
	}
	return key, true
}

func sessionName(key string) string { return key + sessionSuffix }
