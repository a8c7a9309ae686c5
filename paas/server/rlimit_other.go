//go:build !unix

package server

// raiseFileLimit does nothing where there is no such limit to raise.
func raiseFileLimit() (uint64, error) { return 0, nil }
