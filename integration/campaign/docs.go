package campaign

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Doc is a session every field of which carries the same tag (who wrote it
// and the write's sequence number), so a file that mixes two writes — a
// torn write or a torn read — is detected by looking at it alone.
func Doc(tag string, padRepeat int) []byte {
	b, err := json.Marshal(struct {
		Tag  string   `json:"tag"`
		A    string   `json:"a"`
		List []string `json:"list"`
		Nest struct {
			Tag string `json:"tag"`
		} `json:"nest"`
		Pad string `json:"pad"`
	}{Tag: tag, A: tag, List: []string{tag, tag, tag}, Nest: struct {
		Tag string `json:"tag"`
	}{tag}, Pad: strings.Repeat(tag+".", padRepeat)})
	if err != nil {
		panic(err) // a fixed struct of strings always marshals
	}
	return b
}

// DocTag checks that js (compact or pretty JSON) is a Doc all of whose
// fields agree, and returns its tag.
func DocTag(js []byte) (string, error) {
	var d struct {
		Tag  *string  `json:"tag"`
		A    string   `json:"a"`
		List []string `json:"list"`
		Nest struct {
			Tag string `json:"tag"`
		} `json:"nest"`
		Pad string `json:"pad"`
	}
	if err := json.Unmarshal(js, &d); err != nil {
		return "", fmt.Errorf("not a JSON object of the campaign's form: %w (%.120q)", err, js)
	}
	if d.Tag == nil {
		return "", fmt.Errorf("no tag: %.120q", js)
	}
	tag := *d.Tag
	unit := tag + "."
	ok := d.A == tag && d.Nest.Tag == tag && len(d.List) == 3 && d.Pad == strings.Repeat(unit, len(d.Pad)/len(unit))
	for _, v := range d.List {
		ok = ok && v == tag
	}
	if !ok {
		return "", fmt.Errorf("fields of two writes mixed (tag %q): %.200q", tag, js)
	}
	return tag, nil
}
