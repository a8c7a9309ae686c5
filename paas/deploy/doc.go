// Package deploy turns the store's intent (an app started on a snapshot
// with N units) into running units on a runtime.Runtime, and keeps it so:
// zero-downtime releases, crash restarts with backoff, log capture, and
// reconciliation of the engine with the store at start. The Deployer owns
// every goroutine it starts; Close stops them all.
package deploy
