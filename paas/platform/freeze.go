package platform

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/selfhost/paas/paas"
)

// Scale to zero: a deployment no alias points at, and that got no request
// for the idle time, is stopped and shown FROZEN; its next request wakes it
// (the ingress holds the request meanwhile), and concurrent wakes of one
// deployment start it once.

// wakes coalesces the wakes of each deployment.
type wakes struct {
	mu    sync.Mutex
	calls map[string]*wakeCall
}

type wakeCall struct {
	done chan struct{}
	err  error
}

// Wake starts the units of the deployment whose deployer key is target if
// it is FROZEN, waits while it boots, and returns once it is READY; the
// routes are then announced. Concurrent calls share one wake. An app's own
// key (no deployment) has nothing to wake.
func (p *Platform) Wake(ctx context.Context, target string) error {
	uid := paas.DeploymentOfTarget(target)
	if uid == "" {
		return errors.New("not a deployment")
	}
	p.wakes.mu.Lock()
	if p.wakes.calls == nil {
		p.wakes.calls = map[string]*wakeCall{}
	}
	c := p.wakes.calls[uid]
	if c == nil {
		c = &wakeCall{done: make(chan struct{})}
		p.wakes.calls[uid] = c
		// On a goroutine the deployer owns: a wake outlives the request
		// that asked for it, so the others waiting get their answer.
		if !p.deployer.Background(func(ctx context.Context) {
			c.err = p.wake(ctx, uid)
			p.wakes.mu.Lock()
			delete(p.wakes.calls, uid)
			p.wakes.mu.Unlock()
			close(c.done)
		}) {
			delete(p.wakes.calls, uid)
			p.wakes.mu.Unlock()
			return errors.New("shutting down")
		}
	}
	p.wakes.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Platform) wake(ctx context.Context, uid string) error {
	defer p.appsDidChange() // the routes say what the deployment is now
	for {
		d, err := p.store.Deployment(uid)
		if err != nil {
			return err
		}
		switch d.State {
		case paas.DeploymentReady:
			return nil
		case paas.DeploymentError:
			return fmt.Errorf("deployment %s failed: %s", uid, d.Message)
		case paas.DeploymentFrozen:
			return p.thaw(ctx, d)
		}
		select { // booting, or still waiting for its files
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// thaw boots a FROZEN deployment again.
func (p *Platform) thaw(ctx context.Context, d paas.Deployment) error {
	a, err := p.store.App(d.Owner, d.App)
	if err != nil {
		return err
	}
	d.State = paas.DeploymentBooting
	err = p.deployer.Deploy(ctx, d.AppView(a), func() error {
		_, err := p.store.SetDeploymentState(d.UID, paas.DeploymentReady, "")
		return err
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, paas.ErrNotFound) {
		if _, serr := p.store.SetDeploymentState(d.UID, paas.DeploymentError, err.Error()); serr != nil {
			p.log.Warn("record a failed wake", "deployment", d.UID, "err", serr)
		}
	}
	return err
}

// FreezeIdle freezes the READY deployments that no alias points at and
// whose last request (lastUsed; zero: none since the platform started) and
// last state change are both older than idle. It returns how many it froze.
func (p *Platform) FreezeIdle(ctx context.Context, idle time.Duration, lastUsed func(target string) time.Time) (int, error) {
	// The routing view: no deployment's env is unsealed for this check,
	// which runs a few times per idle period however many there are.
	src, err := p.store.RouteSource()
	if err != nil {
		return 0, err
	}
	deps, aliases := src.Deployments, src.Aliases
	aliased := map[string]bool{}
	for _, a := range aliases {
		aliased[a.Deployment] = true
	}
	now, frozen := time.Now(), 0
	for _, d := range deps {
		if d.State != paas.DeploymentReady || aliased[d.UID] {
			continue
		}
		last := d.StateTs
		if t := lastUsed(d.Target()); t.After(last) {
			last = t
		}
		if now.Sub(last) < idle {
			continue
		}
		err := p.deployer.Freeze(ctx, d.Target(), func() error {
			cur, err := p.store.Deployment(d.UID)
			if err != nil {
				return err
			}
			if cur.State != paas.DeploymentReady || !cur.StateTs.Equal(d.StateTs) {
				return errChanged // woken or changed meanwhile
			}
			_, err = p.store.SetDeploymentState(d.UID, paas.DeploymentFrozen, "")
			return err
		})
		switch {
		case errors.Is(err, errChanged), errors.Is(err, paas.ErrNotFound):
		case err != nil:
			return frozen, fmt.Errorf("freeze %s: %w", d.UID, err)
		default:
			frozen++
			p.deployer.Note(d.AppView(paas.App{Owner: d.Owner, Name: d.App}), fmt.Sprintf("frozen after %s without a request; the next one starts it again", idle))
		}
	}
	if frozen > 0 {
		p.appsDidChange()
	}
	return frozen, nil
}

var errChanged = errors.New("changed meanwhile")
