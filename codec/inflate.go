package codec

import (
	"bytes"
	"errors"
)

// scratchKeep bounds the scratch buffer a pooled inflater keeps: a rare huge
// session must not pin megabytes in every pool slot.
const scratchKeep = 256 << 10

// takeOrCopy returns out, an inflater's output in its scratch buffer, as
// the caller's own bytes. A scratch the inflater will not keep (over
// scratchKeep) and that out fills more than half of is handed over as it
// is, its scratch cleared: copying a large payload would hold it twice at
// the peak. Otherwise out is copied at its exact size.
func takeOrCopy(scratch *[]byte, out []byte) []byte {
	if c := cap(*scratch); c > scratchKeep && len(out) > c/2 {
		*scratch = nil
		return out[:len(out):len(out)]
	}
	return bytes.Clone(out)
}

func errorsIsTooLarge(err error) bool { return errors.Is(err, ErrTooLarge) }
