package deploy

import (
	"fmt"
	"time"

	"github.com/selfhost/paas/paas"
)

// eventBuffer is how many steps a subscriber may fall behind; beyond it, it
// misses steps rather than slowing a deploy down.
const eventBuffer = 64

// Subscribe returns the deploy steps of appKey ("": every app) from now
// on, and a function that ends the subscription. A subscriber that falls
// more than a few dozen steps behind misses steps; the app's log has them all.
func (d *Deployer) Subscribe(appKey string) (<-chan paas.DeployEvent, func()) {
	ch := make(chan paas.DeployEvent, eventBuffer)
	d.subMu.Lock()
	if d.subs == nil {
		d.subs = map[chan paas.DeployEvent]string{}
	}
	d.subs[ch] = appKey
	d.subMu.Unlock()
	return ch, func() {
		d.subMu.Lock()
		delete(d.subs, ch)
		d.subMu.Unlock()
	}
}

// emit records a deploy step in the app's log and sends it to subscribers.
func (d *Deployer) emit(appKey string, ev paas.DeployEvent) {
	ev.App = appKey
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	line := fmt.Sprintf("deploy of snapshot %s: %s", ev.Snapshot, ev.Step)
	if ev.Release != "" {
		line = fmt.Sprintf("deploy of snapshot %s (release %s): %s", ev.Snapshot, ev.Release, ev.Step)
	}
	if ev.Message != "" {
		line += ": " + ev.Message
	}
	d.storeLogs(appKey, []paas.LogEntry{{Time: ev.Time, Source: "deploy", Stream: "stdout", Text: line}})
	d.subMu.Lock()
	defer d.subMu.Unlock()
	for ch, app := range d.subs {
		if app != "" && app != appKey {
			continue
		}
		select {
		case ch <- ev:
		default: // full: this subscriber misses the step
		}
	}
}
