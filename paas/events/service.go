package events

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// A destination of type service writes into one of the workspace's own
// database instances (the Nodejitsu databases, the Tsuru service
// instances): a redis instance appends each event to a stream (XADD
// <stream> * event <json>); a postgresql one inserts it into a table
// (created if missing: id, received_at, event jsonb), a batch per
// transaction. The platform tells where the server is and its password at
// each delivery, so a restarted server's new address is followed.

// ServiceEndpoint resolves owner's database name to its service
// ("redis", "postgresql"), the address the platform reaches it at, and its
// password.
type ServiceEndpoint func(ctx context.Context, owner, name string) (service, addr, password string, err error)

const serviceTimeout = 15 * time.Second

type serviceDest struct {
	owner, instance, table, stream string
	resolve                        ServiceEndpoint
}

func newServiceDest(owner string, obj map[string]any, resolve ServiceEndpoint) (*serviceDest, error) {
	if resolve == nil {
		return nil, errors.New("this server delivers to no service instances")
	}
	d := &serviceDest{owner: owner, instance: str(obj, "instance"), table: str(obj, "table"), stream: str(obj, "stream"), resolve: resolve}
	if d.table == "" {
		d.table = "events"
	}
	if d.stream == "" {
		d.stream = "events"
	}
	return d, nil
}

func (d *serviceDest) deliver(ctx context.Context, batch [][]byte) error {
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	service, addr, password, err := d.resolve(ctx, d.owner, d.instance)
	if err != nil {
		return fmt.Errorf("instance %s: %w", d.instance, err)
	}
	var conn net.Conn
	var dialer net.Dialer
	if conn, err = dialer.DialContext(ctx, "tcp", addr); err != nil {
		return fmt.Errorf("instance %s: %w", d.instance, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	switch service {
	case "redis":
		err = redisXAdd(conn, password, d.stream, batch)
	case "postgresql":
		err = pgInsert(conn, password, d.table, batch)
	default:
		err = fmt.Errorf("events are not written to %s instances", service)
	}
	if err != nil {
		return fmt.Errorf("instance %s: %w", d.instance, err)
	}
	return nil
}

// ---- redis: RESP ----

func respCommand(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// respReply reads one reply; an error reply is returned as an error.
func respReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New("redis: " + line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 || n > 1<<20 {
			return "", fmt.Errorf("redis: bulk reply of length %q", line[1:])
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

func redisXAdd(conn net.Conn, password, stream string, batch [][]byte) error {
	out := respCommand("AUTH", password)
	for _, e := range batch {
		out = append(out, respCommand("XADD", stream, "*", "event", string(e))...)
	}
	if _, err := conn.Write(out); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	for range len(batch) + 1 {
		if _, err := respReply(r); err != nil {
			return err
		}
	}
	return nil
}

// ---- postgresql: the v3 protocol, SCRAM-SHA-256, one simple query ----

func pgMessage(typ byte, body []byte) []byte {
	out := []byte{}
	if typ != 0 {
		out = append(out, typ)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)+4))
	return append(out, body...)
}

// pgRead reads one backend message.
func pgRead(r *bufio.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(head[1:]))
	if n < 4 || n > 1<<24 {
		return 0, nil, fmt.Errorf("postgresql: message of %d bytes", n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return head[0], body, nil
}

// pgError is an ErrorResponse's message.
func pgError(body []byte) error {
	var msg, code string
	for _, f := range strings.Split(string(body), "\x00") {
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case 'M':
			msg = f[1:]
		case 'C':
			code = f[1:]
		}
	}
	return fmt.Errorf("postgresql: %s (%s)", msg, code)
}

const pgUser, pgDatabase = "app", "app" // runtime.PostgresUser, runtime.PostgresDatabase

func pgInsert(conn net.Conn, password, table string, batch [][]byte) error {
	var startup []byte
	startup = binary.BigEndian.AppendUint32(startup, 196608) // 3.0
	startup = append(startup, "user\x00"+pgUser+"\x00database\x00"+pgDatabase+"\x00\x00"...)
	if _, err := conn.Write(pgMessage(0, startup)); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	var sc *scram
	for authed := false; ; {
		typ, body, err := pgRead(r)
		if err != nil {
			return err
		}
		switch typ {
		case 'E':
			return pgError(body)
		case 'R':
			if len(body) < 4 {
				return errors.New("postgresql: short authentication message")
			}
			switch code := binary.BigEndian.Uint32(body); code {
			case 0:
				authed = true
			case 3: // cleartext
				if _, err := conn.Write(pgMessage('p', append([]byte(password), 0))); err != nil {
					return err
				}
			case 10: // SASL
				if !strings.Contains(string(body[4:]), "SCRAM-SHA-256\x00") {
					return errors.New("postgresql: the server offers no SCRAM-SHA-256")
				}
				sc = newScram(password)
				first := sc.clientFirst()
				msg := append([]byte("SCRAM-SHA-256\x00"), binary.BigEndian.AppendUint32(nil, uint32(len(first)))...)
				if _, err := conn.Write(pgMessage('p', append(msg, first...))); err != nil {
					return err
				}
			case 11:
				if sc == nil {
					return errors.New("postgresql: SASL continue before start")
				}
				final, err := sc.clientFinal(string(body[4:]))
				if err != nil {
					return err
				}
				if _, err := conn.Write(pgMessage('p', []byte(final))); err != nil {
					return err
				}
			case 12:
				if sc == nil || !sc.verify(string(body[4:])) {
					return errors.New("postgresql: the server's SCRAM signature does not match")
				}
			default:
				return fmt.Errorf("postgresql: unsupported authentication (code %d)", code)
			}
		case 'Z':
			if !authed {
				return errors.New("postgresql: ready before authentication")
			}
			return pgQuery(conn, r, insertSQL(table, batch))
		}
	}
}

// insertSQL is one implicit transaction: the table if missing, then every
// event of the batch.
func insertSQL(table string, batch [][]byte) string {
	var b strings.Builder
	ident := `"` + strings.ReplaceAll(table, `"`, `""`) + `"`
	b.WriteString("CREATE TABLE IF NOT EXISTS " + ident +
		" (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), event jsonb NOT NULL);\n")
	b.WriteString("INSERT INTO " + ident + " (event) VALUES ")
	for i, e := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		// jsonb has no NUL; standard_conforming_strings (on since 9.1)
		// makes a quote the only character to escape.
		s := strings.ReplaceAll(string(e), `\u0000`, `\ufffd`)
		b.WriteString("('" + strings.ReplaceAll(s, "'", "''") + "'::jsonb)")
	}
	b.WriteString(";")
	return b.String()
}

func pgQuery(conn net.Conn, r *bufio.Reader, sql string) error {
	if _, err := conn.Write(pgMessage('Q', append([]byte(sql), 0))); err != nil {
		return err
	}
	var qerr error
	for {
		typ, body, err := pgRead(r)
		if err != nil {
			return err
		}
		switch typ {
		case 'E':
			qerr = pgError(body)
		case 'Z':
			_, _ = conn.Write(pgMessage('X', nil))
			return qerr
		}
	}
}

// scram is the client side of SCRAM-SHA-256 (RFC 7677), without channel binding.
type scram struct {
	password, nonce, clientFirstBare, serverSig string
}

func newScram(password string) *scram {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	s := &scram{password: password, nonce: base64.StdEncoding.EncodeToString(b)}
	s.clientFirstBare = "n=,r=" + s.nonce
	return s
}

func (s *scram) clientFirst() string { return "n,," + s.clientFirstBare }

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s *scram) clientFinal(serverFirst string) (string, error) {
	attrs := map[byte]string{}
	for _, kv := range strings.Split(serverFirst, ",") {
		if len(kv) > 2 && kv[1] == '=' {
			attrs[kv[0]] = kv[2:]
		}
	}
	if !strings.HasPrefix(attrs['r'], s.nonce) {
		return "", errors.New("scram: the server's nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs['s'])
	if err != nil {
		return "", fmt.Errorf("scram: salt: %w", err)
	}
	iter, err := strconv.Atoi(attrs['i'])
	if err != nil || iter < 1 || iter > 1_000_000 {
		return "", fmt.Errorf("scram: iteration count %q", attrs['i'])
	}
	salted, err := pbkdf2.Key(sha256.New, s.password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + attrs['r']
	authMessage := s.clientFirstBare + "," + serverFirst + "," + withoutProof
	sig := hmacSHA256(stored[:], authMessage)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	s.serverSig = base64.StdEncoding.EncodeToString(hmacSHA256(hmacSHA256(salted, "Server Key"), authMessage))
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scram) verify(serverFinal string) bool {
	return hmac.Equal([]byte(serverFinal), []byte("v="+s.serverSig))
}
