package codec

// node is a parsed JSON value. Objects keep their members in order (Django's
// dicts are insertion-ordered); numbers and strings keep their text.
type node struct {
	kind  kind
	text  string // string value (WTF-8: lone surrogates kept), number text in Python repr, raw literal
	keys  []string
	items []node // array items, or object values parallel to keys
}

type kind uint8

const (
	kNull kind = iota
	kFalse
	kTrue
	kNum
	kStr
	kArr
	kObj
	kRaw // literal written as is (NaN, Infinity for the JSON serializer)
)

// maxDepth bounds nesting so that deep input is an error, not a stack overflow.
const maxDepth = 1000

// Tag names of the reversible JSON forms of Python values JSON has no type for.
const (
	tagTuple     = "$tuple"
	tagSet       = "$set"
	tagFrozenset = "$frozenset"
	tagBytes     = "$bytes"
	tagDatetime  = "$datetime"
	tagDate      = "$date"
	tagTime      = "$time"
	tagTimedelta = "$timedelta"
	tagDecimal   = "$decimal"
	tagDict      = "$dict"
	tagFloat     = "$float"
	tagObject    = "$object"
)

func isTagName(k string) bool {
	switch k {
	case tagTuple, tagSet, tagFrozenset, tagBytes, tagDatetime, tagDate, tagTime,
		tagTimedelta, tagDecimal, tagDict, tagFloat, tagObject:
		return true
	}
	return false
}

// isTagShaped reports whether an object's keys make it read as a tag: one
// member named like a tag, or a first member "$object". A real dict of that
// shape is escaped as {"$dict":[[k,v],...]} so that decoding stays reversible.
func isTagShaped(keys []string) bool {
	return len(keys) == 1 && isTagName(keys[0]) || len(keys) > 0 && keys[0] == tagObject
}

func strNode(s string) node { return node{kind: kStr, text: s} }

func tagNode(tag string, v node) node {
	return node{kind: kObj, keys: []string{tag}, items: []node{v}}
}

// dictNode builds an object from string keys, escaping it when it looks like a tag.
func dictNode(keys []string, vals []node) node {
	if isTagShaped(keys) {
		pairs := make([]node, len(keys))
		for i := range keys {
			pairs[i] = node{kind: kArr, items: []node{strNode(keys[i]), vals[i]}}
		}
		return tagNode(tagDict, node{kind: kArr, items: pairs})
	}
	return node{kind: kObj, keys: keys, items: vals}
}
