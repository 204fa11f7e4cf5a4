package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"

	"github.com/sessionfs/sessionfs/codec"
)

// floor is the least any format-C decoder must do: HMAC-SHA256 over
// payload:timestamp, compare the base64 text of the signature, base64-decode
// the payload and, when it is compressed, inflate it with the fastest
// inflater there is (floorInflater). No JSON, no allocation per call.
type floor struct {
	mac     hash.Hash
	sum     []byte
	sig     []byte
	payload []byte
	zlib    *inflaterFloor
	out     []byte
}

func newFloor(secret string) *floor {
	key := sha256.Sum256([]byte(codec.DefaultKeySalt + "signer" + secret))
	return &floor{mac: hmac.New(sha256.New, key[:]), sum: make([]byte, 0, 32), sig: make([]byte, 43), zlib: newInflaterFloor()}
}

func (f *floor) check(s []byte) bool {
	i := bytes.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	value, sig := s[:i], s[i+1:]
	f.mac.Reset()
	f.mac.Write(value)
	f.sum = f.mac.Sum(f.sum[:0])
	base64.RawURLEncoding.Encode(f.sig, f.sum)
	if subtle.ConstantTimeCompare(f.sig, sig) != 1 {
		return false
	}
	j := bytes.LastIndexByte(value, ':')
	payload, compressed := bytes.CutPrefix(value[:j], []byte("."))
	if need := base64.RawURLEncoding.DecodedLen(len(payload)); cap(f.payload) < need {
		f.payload = make([]byte, need)
	}
	n, err := base64.RawURLEncoding.Decode(f.payload[:cap(f.payload)], payload)
	if err != nil {
		return false
	}
	return !compressed || f.zlib.inflate(f.payload[:n], &f.out)
}
