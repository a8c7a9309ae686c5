package runtime

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// rawDoc builds a BSON document from already encoded elements.
func rawDoc(elems ...[]byte) []byte {
	body := bytes.Join(elems, nil)
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(body)+5))
	out = append(out, body...)
	return append(out, 0)
}

func elem(typ byte, key string, val []byte) []byte {
	return append(append([]byte{typ}, append([]byte(key), 0)...), val...)
}

func TestParseMongoReply(t *testing.T) {
	double := func(f float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)) }
	str := func(s string) []byte {
		return append(binary.LittleEndian.AppendUint32(nil, uint32(len(s)+1)), append([]byte(s), 0)...)
	}
	sub := rawDoc(elem(0x10, "n", []byte{1, 0, 0, 0}))
	cases := []struct {
		name    string
		doc     []byte
		ok      float64
		errmsg  string
		wantErr string
	}{
		{"ok double", rawDoc(elem(0x01, "ok", double(1))), 1, "", ""},
		{"ok int32 after others", rawDoc(elem(0x09, "localTime", make([]byte, 8)), elem(0x03, "topologyVersion", sub),
			elem(0x07, "oid", make([]byte, 12)), elem(0x08, "isWritablePrimary", []byte{1}), elem(0x0A, "none", nil),
			elem(0x05, "bin", append(binary.LittleEndian.AppendUint32(nil, 2), 0, 'a', 'b')), elem(0x10, "ok", []byte{1, 0, 0, 0})), 1, "", ""},
		{"refused", rawDoc(elem(0x01, "ok", double(0)), elem(0x02, "errmsg", str("command find requires authentication")), elem(0x10, "code", []byte{13, 0, 0, 0})),
			0, "command find requires authentication", ""},
		{"empty", rawDoc(), 0, "", ""},
		{"short", []byte{5, 0, 0}, 0, "", "length"},
		{"length lies", append(rawDoc(elem(0x01, "ok", double(1))), 0), 0, "", "length"},
		{"truncated value", rawDoc(elem(0x01, "ok", double(1)[:4])), 0, "", "truncated"},
		{"huge string", rawDoc(elem(0x02, "errmsg", binary.LittleEndian.AppendUint32(nil, 1<<30))), 0, "", "truncated"},
		{"negative length", rawDoc(elem(0x03, "d", binary.LittleEndian.AppendUint32(nil, 0xfffffff0))), 0, "", "negative"},
		{"unknown type", rawDoc(elem(0x7f, "x", nil)), 0, "", "unsupported type"},
		{"no key end", append(binary.LittleEndian.AppendUint32(nil, 8), 0x01, 'o', 'k', 0), 0, "", "unterminated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := parseMongoReply(c.doc)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || r.ok != c.ok || r.errmsg != c.errmsg {
				t.Fatalf("= %+v, %v; want ok %v errmsg %q", r, err, c.ok, c.errmsg)
			}
		})
	}
}

func TestMongoCommandRoundTrip(t *testing.T) {
	cmd, err := bsonDoc(bsonElem{"ping", int32(1)}, bsonElem{"$db", "admin"})
	if err != nil {
		t.Fatal(err)
	}
	reply := rawDoc(elem(0x01, "ok", binary.LittleEndian.AppendUint64(nil, math.Float64bits(1))))
	answer := func(id uint32, op uint32, doc []byte) []byte {
		msg := binary.LittleEndian.AppendUint32(nil, uint32(21+len(doc)))
		msg = binary.LittleEndian.AppendUint32(msg, 99)
		msg = binary.LittleEndian.AppendUint32(msg, id)
		msg = binary.LittleEndian.AppendUint32(msg, op)
		msg = append(msg, 0, 0, 0, 0, 0)
		return append(msg, doc...)
	}
	cases := []struct {
		name    string
		answer  []byte
		wantErr string
	}{
		{"ok", answer(3, opMsg, reply), ""},
		{"other request", answer(4, opMsg, reply), "answer to request 4"},
		{"legacy opcode", answer(3, 1, reply), "opcode"},
		{"too big", append(binary.LittleEndian.AppendUint32(nil, mongoMaxReply+1), make([]byte, 12)...), "bytes"},
		{"cut short", answer(3, opMsg, reply)[:25], "EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := &fakeConn{in: bytes.NewReader(c.answer)}
			r, err := mongoCommand(conn, 3, cmd)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || r.ok != 1 {
				t.Fatalf("= %+v, %v", r, err)
			}
			sent := conn.out.Bytes()
			if binary.LittleEndian.Uint32(sent) != uint32(len(sent)) || binary.LittleEndian.Uint32(sent[12:]) != opMsg || !bytes.Equal(sent[21:], cmd) {
				t.Errorf("sent % x", sent)
			}
		})
	}
}

type fakeConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error) { return c.out.Write(p) }
