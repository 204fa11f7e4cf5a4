package codec

import "errors"

// Decode and encode failures. Every error the codec returns wraps one of
// these, so callers test with errors.Is and never parse messages.
var (
	// ErrBadSignature: the HMAC (or MD5) does not verify with the current key
	// or any fallback key. Django treats such a session as empty.
	ErrBadSignature = errors.New("bad signature")

	// ErrCorrupt is the parent of every "signature fine, content broken"
	// error: errors.Is(ErrCorruptZlib, ErrCorrupt) is true.
	ErrCorrupt = errors.New("corrupt session data")

	ErrCorruptBase64 = corrupt("invalid base64")
	ErrCorruptZlib   = corrupt("invalid zlib stream")
	ErrCorruptJSON   = corrupt("invalid JSON")
	ErrCorruptPickle = corrupt("invalid or unsupported pickle")
	ErrNotObject     = corrupt("session is not a dict/object")
	// ErrForeignObject: a cache value's pickle calls or names a global
	// outside the allow-list (os.system, a model class, ...).
	ErrForeignObject = corrupt("the pickle uses a class outside the allow-list")

	// ErrUnknownFormat: the bytes are not shaped like any Django format.
	ErrUnknownFormat = errors.New("unknown session format")

	// ErrTooLarge: input or decompressed payload exceeds MaxDecodedSize.
	ErrTooLarge = errors.New("session data too large")

	// ErrInvalidSession: JSON given to Encode is not an acceptable session
	// (not an object, duplicate keys, invalid UTF-8, too deep, ...).
	ErrInvalidSession = errors.New("invalid session JSON")

	// ErrUnsupportedValue: a value cannot be written with the chosen
	// serializer without changing its meaning (for example an opaque pickled
	// object, or a tagged value requested as JSON-only).
	ErrUnsupportedValue = errors.New("value cannot be encoded exactly")
)

type corruptError struct{ msg string }

func corrupt(msg string) error               { return &corruptError{msg} }
func (e *corruptError) Error() string        { return "corrupt session data: " + e.msg }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }
