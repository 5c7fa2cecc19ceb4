package main

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Commands that never change data. Anything not listed (and anything that cannot be parsed)
// is treated as a write and takes the turn.
var readOnlyCommands = map[string]bool{
	"find": true, "getmore": true, "count": true, "distinct": true, "aggregate": true,
	"listcollections": true, "listindexes": true, "listdatabases": true, "ping": true,
	"buildinfo": true, "hello": true, "ismaster": true, "serverstatus": true, "dbstats": true,
	"collstats": true, "datasize": true, "getparameter": true, "getcmdlineopts": true,
	"getlog": true, "hostinfo": true, "connectionstatus": true, "whatsmyuri": true,
	"explain": true, "killcursors": true, "endsessions": true, "getfreemonitoringstatus": true,
}

// Aggregation stages that write: an aggregate naming one of them takes the turn.
var writingStages = [][]byte{[]byte("$out\x00"), []byte("$merge\x00")}

// readOnly tells whether an OP_MSG request runs a command that cannot change data.
func readOnly(message []byte) bool {
	name, ok := commandName(message)
	if !ok || !readOnlyCommands[strings.ToLower(name)] {
		return false
	}
	if strings.EqualFold(name, "aggregate") || strings.EqualFold(name, "explain") {
		for _, stage := range writingStages {
			if bytes.Contains(message[headerLength:], stage) {
				return false
			}
		}
	}
	return true
}

// commandName returns the first key of the OP_MSG's body section (kind 0): the command.
func commandName(message []byte) (string, bool) {
	if len(message) < headerLength+5 || binary.LittleEndian.Uint32(message[12:16]) != opMsg {
		return "", false
	}
	sections := message[headerLength+4:]
	if binary.LittleEndian.Uint32(message[headerLength:headerLength+4])&1 != 0 { // checksumPresent
		if len(sections) < 4 {
			return "", false
		}
		sections = sections[:len(sections)-4]
	}
	for len(sections) > 0 {
		kind := sections[0]
		sections = sections[1:]
		if len(sections) < 4 {
			return "", false
		}
		size := int(int32(binary.LittleEndian.Uint32(sections[0:4])))
		if size < 5 || size > len(sections) {
			return "", false
		}
		if kind == 0 {
			// BSON document: int32 length, then elements (type byte, cstring key, value).
			document := sections[:size]
			if len(document) < 6 || document[4] == 0 {
				return "", false
			}
			key := document[5:]
			end := bytes.IndexByte(key, 0)
			if end <= 0 {
				return "", false
			}
			return string(key[:end]), true
		}
		if kind != 1 {
			return "", false
		}
		sections = sections[size:]
	}
	return "", false
}
