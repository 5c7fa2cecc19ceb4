package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// FerretDB 1.x applies an update as read-modify-write outside a transaction, so two
// concurrent updates of one document can both read the old value and one is lost
// (FerretDB issue #3040). MongoDB applies single-document updates atomically, and the
// application relies on that ($inc, conditional findOneAndUpdate). This proxy restores the
// guarantee for development and CI: it forwards one request (and its reply) at a time
// across all client connections, so FerretDB never runs two operations at once.
//
// With readsBesideWrites, read-only commands (see command_kind.go) skip the turn: a read
// never changes a document, so it cannot lose an update, and it sees each write whole
// because FerretDB stores a document with one SQL statement. Writes still go one at a time.

const (
	headerLength   = 16
	maxMessageSize = 48 * 1024 * 1024
	opMsg          = 2013
	flagMoreToCome = 1 << 1
)

type serialProxy struct {
	backend           string
	logger            *slog.Logger
	readsBesideWrites bool
	turn              sync.Mutex
}

// readMessage reads one wire-protocol message (header plus body).
func readMessage(r io.Reader) ([]byte, error) {
	header := make([]byte, headerLength)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, err
	}
	length := int(int32(binary.LittleEndian.Uint32(header[0:4])))
	if length < headerLength || length > maxMessageSize {
		return nil, fmt.Errorf("invalid message length %d", length)
	}
	message := make([]byte, length)
	copy(message, header)
	if _, err := io.ReadFull(r, message[headerLength:]); err != nil {
		return nil, err
	}
	return message, nil
}

// moreToCome tells whether an OP_MSG announces another message without a reply in between.
func moreToCome(message []byte) bool {
	opCode := binary.LittleEndian.Uint32(message[12:16])
	return opCode == opMsg && len(message) >= headerLength+4 &&
		binary.LittleEndian.Uint32(message[headerLength:headerLength+4])&flagMoreToCome != 0
}

// serve accepts clients once FerretDB answers; until then they wait in the listen backlog.
func (p *serialProxy) serve(ctx context.Context, listener net.Listener) {
	for {
		probe, err := net.DialTimeout("tcp", p.backend, time.Second)
		if err == nil {
			_ = probe.Close()
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	go func() {
		<-ctx.Done()
		_ = listener.Close()
	}()
	for {
		client, err := listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.logger.Error("accept", "error", err)
			}
			return
		}
		go p.handle(client)
	}
}

func (p *serialProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.backend)
	if err != nil {
		p.logger.Error("dial backend", "error", err)
		return
	}
	defer server.Close()
	for {
		request, err := readMessage(client)
		if err != nil {
			return
		}
		if err := p.exchange(request, client, server); err != nil {
			return
		}
	}
}

// exchange forwards one request and every reply message it produces while holding the turn.
func (p *serialProxy) exchange(request []byte, client, server net.Conn) error {
	if !p.readsBesideWrites || !readOnly(request) {
		p.turn.Lock()
		defer p.turn.Unlock()
	}
	if _, err := server.Write(request); err != nil {
		return err
	}
	if moreToCome(request) {
		return nil
	}
	for {
		reply, err := readMessage(server)
		if err != nil {
			return err
		}
		if _, err := client.Write(reply); err != nil {
			return err
		}
		if !moreToCome(reply) {
			return nil
		}
	}
}
