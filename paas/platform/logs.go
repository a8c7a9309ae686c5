package platform

import (
	"context"
	"time"

	"github.com/selfhost/paas/paas"
)

// AppLogs returns the newest rows log lines of owner's app between from and until.
func (p *Platform) AppLogs(ctx context.Context, pr *paas.Principal, owner, app string, from, until time.Time, rows int) ([]paas.LogEntry, error) {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return nil, err
	}
	if err := p.deployer.SyncLogs(ctx); err != nil {
		return nil, err
	}
	return p.store.Logs(a.Key(), from, until, rows)
}

// TailLogs returns the log lines of app (as an earlier call returned it)
// after cursor (nil: the last limit lines) and the cursor to pass next
// time. Each call checks the credential and the access anew, and follows
// the app by identity: a follower loses the stream when it loses the right,
// its token or its account, or when the app is gone (a new app of the same
// name is another app).
func (p *Platform) TailLogs(ctx context.Context, pr *paas.Principal, app paas.App, cursor []byte, limit int) ([]paas.LogEntry, []byte, error) {
	if err := p.StillValid(ctx, pr); err != nil {
		return nil, nil, err
	}
	a, err := p.App(ctx, pr, app.Owner, app.Name)
	if err != nil {
		return nil, nil, err
	}
	if !a.Created.Equal(app.Created) {
		return nil, nil, paas.NotFound("app %q not found", app.Name)
	}
	if err := p.deployer.SyncLogs(ctx); err != nil {
		return nil, nil, err
	}
	return p.store.TailLogs(a.Key(), cursor, limit)
}
