package events

import (
	"bufio"
	"strings"
	"testing"
)

// TestScramRFC7677 is the example exchange of RFC 7677, section 3.
func TestScramRFC7677(t *testing.T) {
	s := &scram{password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO", clientFirstBare: "n=user,r=rOprNGfwEbeRWgbNEkqO"}
	final, err := s.clientFinal("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	if err != nil {
		t.Fatal(err)
	}
	if want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="; final != want {
		t.Errorf("client final = %q, want %q", final, want)
	}
	if !s.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") || s.verify("v=AAAA") {
		t.Error("server signature check")
	}
	if _, err := s.clientFinal("r=someone-else,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"); err == nil {
		t.Error("a nonce that does not extend ours was accepted")
	}
}

func TestInsertSQL(t *testing.T) {
	got := insertSQL("evts", [][]byte{[]byte(`{"a":"it's"}`), []byte(`{"b":"\u0000x"}`)})
	if !strings.Contains(got, `('{"a":"it''s"}'::jsonb), ('{"b":"\ufffdx"}'::jsonb);`) || !strings.Contains(got, `CREATE TABLE IF NOT EXISTS "evts"`) {
		t.Errorf("insertSQL = %s", got)
	}
}

func TestRespReply(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"+OK\r\n", "OK", ""},
		{":3\r\n", "3", ""},
		{"$5\r\nhello\r\n", "hello", ""},
		{"-WRONGPASS invalid\r\n", "", "WRONGPASS"},
		{"$99999999\r\n", "", "length"},
		{"?\r\n", "", "unexpected"},
	} {
		got, err := respReply(bufio.NewReader(strings.NewReader(c.in)))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q = %q, %v", c.in, got, err)
		}
	}
}
