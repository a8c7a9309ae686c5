package paas

import "sync"

// Topic names a kind of change that views built from the store follow.
type Topic string

const (
	// TopicApps: an app was created, deleted, renamed to another host or
	// started/stopped (ingress routes and the platform DNS zone follow it).
	TopicApps Topic = "apps"
	// TopicZones: a domain or DNS record changed.
	TopicZones Topic = "zones"
	// TopicRoutes: the units serving some app changed (deploys, restarts).
	TopicRoutes Topic = "routes"
)

// Notifier tells subscribers that something changed, never what: each
// subscriber rereads the current state when woken. Notifications coalesce:
// a subscriber's channel holds at most one pending wake-up, so Notify never
// blocks, and a subscriber that is busy while several changes happen wakes
// once more and reads the state after all of them: it can miss
// intermediate states, never the latest one.
//
// The zero Notifier is ready to use and safe for concurrent use.
type Notifier struct {
	mu   sync.Mutex
	subs map[Topic]map[chan struct{}]bool
}

// Subscribe returns a channel that receives a value after any of topics is
// notified, and a function that ends the subscription. The channel starts
// with one pending value, so the subscriber builds its first view at once.
func (n *Notifier) Subscribe(topics ...Topic) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[Topic]map[chan struct{}]bool{}
	}
	for _, t := range topics {
		if n.subs[t] == nil {
			n.subs[t] = map[chan struct{}]bool{}
		}
		n.subs[t][ch] = true
	}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		for _, t := range topics {
			delete(n.subs[t], ch)
		}
		n.mu.Unlock()
	}
}

// Notify wakes every subscriber of topic. It never blocks.
func (n *Notifier) Notify(topic Topic) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs[topic] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending; it will read this change too
		}
	}
}
