package runtime

import (
	"context"
	"net"
	"strconv"
	"time"
)

// MongoFindUnauthenticated runs {find: coll} on db at ip:port without
// authenticating and returns the answer's ok and errmsg: the tests' check
// that an instance refuses strangers.
func MongoFindUnauthenticated(ctx context.Context, ip string, port int, db, coll string) (float64, string, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	cmd, err := bsonDoc(bsonElem{"find", coll}, bsonElem{"$db", db})
	if err != nil {
		return 0, "", err
	}
	r, err := mongoCommand(conn, 7, cmd)
	return r.ok, r.errmsg, err
}
