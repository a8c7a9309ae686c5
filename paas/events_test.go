package paas_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
)

func TestNotifierStartsPendingAndCoalesces(t *testing.T) {
	var n paas.Notifier
	ch, cancel := n.Subscribe(paas.TopicApps, paas.TopicZones)
	defer cancel()
	// The first wake-up is already there: the subscriber builds its view.
	select {
	case <-ch:
	default:
		t.Fatal("no initial wake-up")
	}
	for range 100 {
		n.Notify(paas.TopicApps) // never blocks, however many
	}
	n.Notify(paas.TopicZones)
	n.Notify(paas.TopicRoutes) // not subscribed
	select {
	case <-ch:
	default:
		t.Fatal("no wake-up after notifications")
	}
	select {
	case <-ch:
		t.Fatal("notifications did not coalesce into one wake-up")
	default:
	}
	cancel()
	n.Notify(paas.TopicApps)
	select {
	case <-ch:
		t.Fatal("woken after cancel")
	default:
	}
}

// A subscriber never misses the latest state: after the last Notify, it
// wakes at least once more and reads a value at least as new.
func TestNotifierSubscriberSeesLatestState(t *testing.T) {
	var n paas.Notifier
	var state atomic.Int64
	ch, cancel := n.Subscribe(paas.TopicRoutes)
	defer cancel()
	var seen atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ch:
				seen.Store(state.Load())
				time.Sleep(time.Microsecond) // a slow subscriber
			case <-done:
				return
			}
		}
	}()
	for i := int64(1); i <= 10000; i++ {
		state.Store(i)
		n.Notify(paas.TopicRoutes)
	}
	deadline := time.Now().Add(5 * time.Second)
	for seen.Load() != 10000 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(done)
	wg.Wait()
	if got := seen.Load(); got != 10000 {
		t.Fatalf("subscriber's last view is state %d, want 10000", got)
	}
}
