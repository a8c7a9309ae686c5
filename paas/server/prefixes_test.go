package server

import (
	"strings"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "", want: nil},
		{in: "127.0.0.1", want: []string{"127.0.0.1/32"}},
		{in: " 192.0.2.9/24 , ::1", want: []string{"192.0.2.0/24", "::1/128"}},
		{in: "nope", bad: true},
	} {
		got, err := parsePrefixes(c.in)
		if (err != nil) != c.bad {
			t.Errorf("parsePrefixes(%q) error %v, want error %v", c.in, err, c.bad)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, ",") != strings.Join(c.want, ",") {
			t.Errorf("parsePrefixes(%q) = %v, want %v", c.in, s, c.want)
		}
	}
}
