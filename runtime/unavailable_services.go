package runtime

import "context"

var _ ServiceRuntime = Unavailable{}

// With no engine, no database server runs either: each call says why.
func (u Unavailable) StartService(context.Context, ServiceSpec) (Service, error) {
	return Service{}, u.err()
}
func (u Unavailable) StopService(context.Context, string) error         { return nil }
func (u Unavailable) RemoveService(context.Context, string) error       { return u.err() }
func (u Unavailable) Services(context.Context) ([]Service, error)       { return nil, nil }
func (u Unavailable) ProbeService(context.Context, string) error        { return u.err() }
func (u Unavailable) ConnectUnit(context.Context, string, string) error { return u.err() }
func (u Unavailable) DisconnectUnit(context.Context, string, string) error {
	return nil
}
func (u Unavailable) ServiceAddr(context.Context, string) (string, int, error) {
	return "", 0, u.err()
}
