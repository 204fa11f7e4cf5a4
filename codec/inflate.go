package codec

import "errors"

// scratchKeep bounds the scratch buffer a pooled inflater keeps: a rare huge
// session must not pin megabytes in every pool slot.
const scratchKeep = 256 << 10

func errorsIsTooLarge(err error) bool { return errors.Is(err, ErrTooLarge) }
