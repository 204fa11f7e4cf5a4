package codec

import "bytes"

// Member returns the raw JSON text of a top-level member (a subslice of
// sessionJSON: do not modify it), or false when the key is absent or the
// text is not an object.
func Member(sessionJSON []byte, key string) ([]byte, bool) {
	in := sessionJSON
	i := skipWS(in, 0)
	if i >= len(in) || in[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = skipWS(in, i)
		if i >= len(in) || in[i] != '"' {
			return nil, false
		}
		end := skipString(in, i)
		if end < 0 {
			return nil, false
		}
		raw := in[i+1 : end-1]
		match := false
		if bytes.IndexByte(raw, '\\') < 0 {
			match = string(raw) == key
		} else {
			p := parser{in: in, pos: i}
			s, err := p.str()
			match = err == nil && s == key
		}
		i = skipWS(in, end)
		if i >= len(in) || in[i] != ':' {
			return nil, false
		}
		i = skipWS(in, i+1)
		vEnd := skipValue(in, i)
		if vEnd < 0 {
			return nil, false
		}
		if match {
			return in[i:vEnd], true
		}
		i = skipWS(in, vEnd)
		if i >= len(in) || in[i] != ',' {
			return nil, false
		}
		i++
	}
}

// skipString returns the index after the string starting at in[i], or -1.
func skipString(in []byte, i int) int {
	for j := i + 1; j < len(in); j++ {
		switch in[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at in[i], or -1.
func skipValue(in []byte, i int) int {
	if i >= len(in) {
		return -1
	}
	switch in[i] {
	case '"':
		return skipString(in, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(in); j++ {
			switch in[j] {
			case '"':
				if j = skipString(in, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(in) && !isDelim(in[j]) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
