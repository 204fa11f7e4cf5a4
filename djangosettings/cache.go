package djangosettings

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Cache is CACHES[SESSION_CACHE_ALIAS], for the cache and cached_db
// engines.
type Cache struct {
	Alias       string
	Backend     string   // BACKEND, a dotted path
	Locations   []string // LOCATION, split as Django splits it; may hold a password
	KeyPrefix   string   // KEY_PREFIX
	Version     int      // VERSION
	KeyFunction string   // KEY_FUNCTION as a dotted path; "" for Django's
	// Options are OPTIONS without the password; a value that is not a
	// string, number or boolean is "<type>".
	Options  map[string]any
	Password []byte // OPTIONS PASSWORD; travels as the secret key does
}

// GoString keeps the password and the locations (which may hold one) out of %#v.
func (c Cache) GoString() string {
	return fmt.Sprintf("djangosettings.Cache{Alias:%q, Backend:%q, Locations:%d, KeyPrefix:%q, Version:%d, KeyFunction:%q, Options:%v}",
		c.Alias, c.Backend, len(c.Locations), c.KeyPrefix, c.Version, c.KeyFunction, c.Options)
}

// String keeps the password out of %v and %s.
func (c Cache) String() string { return c.GoString() }

type cacheAnswer struct {
	Cache *struct {
		Alias       string         `json:"alias"`
		Backend     string         `json:"backend"`
		Locations   []string       `json:"locations"` // base64
		KeyPrefix   string         `json:"key_prefix"`
		Version     int            `json:"version"`
		KeyFunction string         `json:"key_function"`
		Options     map[string]any `json:"options"`
		Password    string         `json:"password"` // base64
	} `json:"cache"`
	CacheError *string `json:"cache_error"`
}

// parseCache reads the cache part of Python's answer: nil when the engine
// keeps no sessions in a cache.
func parseCache(out []byte) (*Cache, error) {
	var a cacheAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		return nil, fmt.Errorf("reading Django settings: malformed answer from Python (%d bytes): %w", len(out), errors.Unwrap(err))
	}
	if a.CacheError != nil {
		return nil, fmt.Errorf("reading Django settings: CACHES[SESSION_CACHE_ALIAS]: %s", *a.CacheError)
	}
	if a.Cache == nil {
		return nil, nil
	}
	c := &Cache{Alias: a.Cache.Alias, Backend: a.Cache.Backend, KeyPrefix: a.Cache.KeyPrefix, Version: a.Cache.Version,
		KeyFunction: a.Cache.KeyFunction, Options: a.Cache.Options}
	for i, l := range a.Cache.Locations {
		b, err := base64.StdEncoding.DecodeString(l)
		if err != nil {
			return nil, fmt.Errorf("reading Django settings: malformed CACHES LOCATION[%d] encoding", i)
		}
		c.Locations = append(c.Locations, string(b))
	}
	pw, err := base64.StdEncoding.DecodeString(a.Cache.Password)
	if err != nil {
		return nil, errors.New("reading Django settings: malformed CACHES PASSWORD encoding")
	}
	if len(pw) > 0 {
		c.Password = pw
	}
	return c, nil
}
