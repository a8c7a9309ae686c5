package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"time"
)

// The MongoDB wire protocol, as little of it as a health probe needs: one
// OP_MSG command whose answer's "ok" says whether the server serves. The
// official image's own client, mongosh, is a Node program that needs more
// memory and time than a probe should, and the host-built image has none,
// so the probe speaks the protocol itself, from the platform.

const (
	opMsg = 2013
	// mongoMaxReply bounds what a probe reads: a ping's answer is tens of bytes.
	mongoMaxReply = 1 << 20
)

// bsonElem is one element of a command document: an int32 or a string.
type bsonElem struct {
	key string
	val any
}

// bsonDoc encodes elems as a BSON document.
func bsonDoc(elems ...bsonElem) ([]byte, error) {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 0})
	for _, e := range elems {
		switch v := e.val.(type) {
		case int32:
			b.WriteByte(0x10)
			b.WriteString(e.key)
			b.WriteByte(0)
			b.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
		case string:
			b.WriteByte(0x02)
			b.WriteString(e.key)
			b.WriteByte(0)
			b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(v)+1)))
			b.WriteString(v)
			b.WriteByte(0)
		default:
			return nil, fmt.Errorf("bson: unsupported value %T", e.val)
		}
	}
	b.WriteByte(0)
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out, nil
}

// mongoReply is what a probe reads of a command's answer.
type mongoReply struct {
	ok     float64
	errmsg string
}

// parseMongoReply reads the top-level "ok" and "errmsg" of a BSON
// document, stepping over every other element by its encoded size.
func parseMongoReply(doc []byte) (mongoReply, error) {
	var r mongoReply
	if len(doc) < 5 || int(binary.LittleEndian.Uint32(doc)) != len(doc) || doc[len(doc)-1] != 0 {
		return r, errors.New("bson: bad document length")
	}
	i, end := 4, len(doc)-1
	for i < end {
		typ := doc[i]
		i++
		k := bytes.IndexByte(doc[i:end], 0)
		if k < 0 {
			return r, errors.New("bson: unterminated key")
		}
		key := string(doc[i : i+k])
		i += k + 1
		var size int
		switch typ {
		case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
			size = 8
		case 0x07: // object id
			size = 12
		case 0x08: // bool
			size = 1
		case 0x0A: // null
			size = 0
		case 0x10: // int32
			size = 4
		case 0x13: // decimal128
			size = 16
		case 0x02, 0x03, 0x04, 0x05: // string, document, array, binary
			if end-i < 4 {
				return r, errors.New("bson: truncated length")
			}
			n := int(int32(binary.LittleEndian.Uint32(doc[i:])))
			switch typ {
			case 0x02:
				size = 4 + n
			case 0x05:
				size = 5 + n
			default:
				size = n
			}
			if n < 0 || size < 4 {
				return r, errors.New("bson: negative length")
			}
		default:
			return r, fmt.Errorf("bson: element %q of unsupported type 0x%02x", key, typ)
		}
		if end-i < size {
			return r, fmt.Errorf("bson: element %q is truncated", key)
		}
		v := doc[i : i+size]
		switch {
		case key == "ok" && typ == 0x01:
			r.ok = math.Float64frombits(binary.LittleEndian.Uint64(v))
		case key == "ok" && typ == 0x10:
			r.ok = float64(int32(binary.LittleEndian.Uint32(v)))
		case key == "ok" && typ == 0x12:
			r.ok = float64(int64(binary.LittleEndian.Uint64(v)))
		case key == "ok" && typ == 0x08:
			r.ok = float64(v[0])
		case key == "errmsg" && typ == 0x02 && size > 4:
			r.errmsg = string(bytes.TrimSuffix(v[4:], []byte{0}))
		}
		i += size
	}
	return r, nil
}

// mongoCommand runs one command (db given as $db) over conn and returns its
// answer.
func mongoCommand(conn io.ReadWriter, requestID int32, cmd []byte) (mongoReply, error) {
	msg := make([]byte, 21, 21+len(cmd))
	binary.LittleEndian.PutUint32(msg[0:], uint32(21+len(cmd)))
	binary.LittleEndian.PutUint32(msg[4:], uint32(requestID))
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	// flagBits (16:20) zero, section kind 0 (20): the command body follows.
	msg = append(msg, cmd...)
	if _, err := conn.Write(msg); err != nil {
		return mongoReply{}, err
	}
	var head [16]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return mongoReply{}, err
	}
	n := int(int32(binary.LittleEndian.Uint32(head[0:])))
	if n < 21 || n > mongoMaxReply {
		return mongoReply{}, fmt.Errorf("mongodb: answer of %d bytes", n)
	}
	if op := binary.LittleEndian.Uint32(head[12:]); op != opMsg {
		return mongoReply{}, fmt.Errorf("mongodb: answer opcode %d, want %d", op, opMsg)
	}
	if got := int32(binary.LittleEndian.Uint32(head[8:])); got != requestID {
		return mongoReply{}, fmt.Errorf("mongodb: answer to request %d, want %d", got, requestID)
	}
	body := make([]byte, n-16)
	if _, err := io.ReadFull(conn, body); err != nil {
		return mongoReply{}, err
	}
	// flagBits, then a kind 0 section: the answer document. A checksum
	// (flag bit 0) would follow it; the parser reads the document's own length.
	if body[4] != 0 {
		return mongoReply{}, fmt.Errorf("mongodb: answer section of kind %d", body[4])
	}
	doc := body[5:]
	if len(doc) >= 4 {
		if l := int(binary.LittleEndian.Uint32(doc)); l >= 5 && l <= len(doc) {
			doc = doc[:l]
		}
	}
	return parseMongoReply(doc)
}

// mongoPing dials addr and runs {ping: 1} on the admin database, which a
// server answers before authentication, like pg_isready.
func mongoPing(ctx context.Context, ip string, port int) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(probeTimeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	cmd, err := bsonDoc(bsonElem{"ping", int32(1)}, bsonElem{"$db", "admin"})
	if err != nil {
		return err
	}
	r, err := mongoCommand(conn, 1, cmd)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if r.ok != 1 {
		return fmt.Errorf("ping: not ok: %s", r.errmsg)
	}
	return nil
}
