//go:build unix

package server

import "syscall"

// raiseFileLimit lifts the soft limit on open files to the hard one: every
// client connection, unit log stream and the engine's socket is a file, and
// distributions' default soft limit (1024) is reached by a few hundred
// clients. It returns the limit in force.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}
