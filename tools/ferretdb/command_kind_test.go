package main

import (
	"encoding/binary"
	"testing"
)

// opMsg builds an OP_MSG with a body section holding {<command>: 1, <extra key>: "x"}.
func opMsgFor(command, extraKey string, sequenceFirst bool) []byte {
	element := func(kind byte, key string, value []byte) []byte {
		out := append([]byte{kind}, key...)
		out = append(out, 0)
		return append(out, value...)
	}
	one := make([]byte, 4)
	binary.LittleEndian.PutUint32(one, 1)
	str := []byte{2, 0, 0, 0, 'x', 0}
	body := append(element(0x10, command, one), element(0x02, extraKey, str)...)
	document := make([]byte, 4, 4+len(body)+1)
	document = append(document, body...)
	document = append(document, 0)
	binary.LittleEndian.PutUint32(document[0:4], uint32(len(document)))

	sections := []byte{}
	if sequenceFirst {
		sequence := []byte{1, 0, 0, 0, 0}
		sequence = append(sequence, "documents\x00"...)
		binary.LittleEndian.PutUint32(sequence[1:5], uint32(len(sequence)-1))
		sections = append(sections, sequence...)
	}
	sections = append(sections, 0)
	sections = append(sections, document...)

	message := make([]byte, headerLength+4)
	binary.LittleEndian.PutUint32(message[12:16], opMsg)
	message = append(message, sections...)
	binary.LittleEndian.PutUint32(message[0:4], uint32(len(message)))
	return message
}

func TestReadOnly(t *testing.T) {
	cases := []struct {
		name          string
		command       string
		extraKey      string
		sequenceFirst bool
		want          bool
	}{
		{"find", "find", "filter", false, true},
		{"getMore", "getMore", "collection", false, true},
		{"hello", "hello", "$db", false, true},
		{"aggregate reading", "aggregate", "pipeline", false, true},
		{"aggregate with $out", "aggregate", "$out", false, false},
		{"aggregate with $merge", "aggregate", "$merge", false, false},
		{"insert", "insert", "documents", false, false},
		{"update after a document sequence", "update", "ordered", true, false},
		{"findAndModify", "findAndModify", "query", false, false},
		{"delete", "delete", "deletes", false, false},
		{"createIndexes", "createIndexes", "indexes", false, false},
		{"find after a document sequence", "find", "filter", true, true},
	}
	for _, c := range cases {
		if got := readOnly(opMsgFor(c.command, c.extraKey, c.sequenceFirst)); got != c.want {
			t.Errorf("%s: readOnly = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReadOnlyRefusesWhatItCannotParse(t *testing.T) {
	message := opMsgFor("find", "filter", false)
	for _, broken := range [][]byte{
		message[:headerLength+6],
		append(append([]byte{}, message[:12]...), 0xd4, 0x07, 0, 0), // OP_QUERY
	} {
		if readOnly(broken) {
			t.Errorf("a message that cannot be parsed as OP_MSG was taken for a read")
		}
	}
}
