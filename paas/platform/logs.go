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

// TailLogs returns the log lines of owner's app after cursor (nil: the last
// limit lines) and the cursor to pass next time. Each call checks access
// anew, so a follower loses the stream when it loses the right.
func (p *Platform) TailLogs(ctx context.Context, pr *paas.Principal, owner, app string, cursor []byte, limit int) ([]paas.LogEntry, []byte, error) {
	a, err := p.App(ctx, pr, owner, app)
	if err != nil {
		return nil, nil, err
	}
	if err := p.deployer.SyncLogs(ctx); err != nil {
		return nil, nil, err
	}
	return p.store.TailLogs(a.Key(), cursor, limit)
}
