package runtime

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Unavailable is the Runtime used when no engine could be reached at start:
// the API keeps working (accounts, apps, snapshots, logs) and every call that
// needs containers fails with the reason, instead of the server refusing to run.
type Unavailable struct{ Err error }

var _ Runtime = Unavailable{}

func (u Unavailable) err() error { return fmt.Errorf("container engine unavailable: %w", u.Err) }

func (u Unavailable) EnsureImage(context.Context, string, io.Writer) error { return u.err() }
func (u Unavailable) Prepare(context.Context, CodeSpec, io.Writer) (Prepared, error) {
	return Prepared{}, u.err()
}
func (u Unavailable) RemoveCode(context.Context, string) error          { return nil }
func (u Unavailable) Codes(context.Context) ([]Code, error)             { return nil, nil }
func (u Unavailable) ImageExists(context.Context, string) (bool, error) { return false, u.err() }
func (u Unavailable) RemoveImage(context.Context, string) error         { return nil }
func (u Unavailable) Images(context.Context) ([]Image, error)           { return nil, nil }
func (u Unavailable) Start(context.Context, UnitSpec) (Unit, error)     { return Unit{}, u.err() }
func (u Unavailable) Stop(context.Context, string, time.Duration) error { return nil }
func (u Unavailable) Units(context.Context) ([]Unit, error)             { return nil, nil }
func (u Unavailable) Logs(context.Context, string, time.Time, func(LogLine)) error {
	return u.err()
}

// Events never delivers: with no engine, nothing runs.
func (u Unavailable) Events(ctx context.Context) (<-chan Event, error) {
	ch := make(chan Event)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch, nil
}
