package paas

import (
	"time"
)

// LogEntry is one line of an app's log: its own output (source "app"), its
// build output ("build") or the platform's notes about it ("platform").
type LogEntry struct {
	Time   time.Time `json:"time"`
	App    string    `json:"app"` // app key
	Source string    `json:"source"`
	Unit   string    `json:"unit,omitempty"`
	Stream string    `json:"stream,omitempty"` // stdout or stderr
	Text   string    `json:"text"`
}

// DefaultLogRetention is how many lines are kept per app; older lines are
// dropped as new ones arrive.
const DefaultLogRetention = 10000
