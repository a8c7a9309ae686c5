package paas

import "time"

// Event routing (the Jitsu face's streams and links): events are JSON
// objects kept in order per stream until every link from it has
// delivered them.

// StreamKey names a stream across workspaces: owner\x00streamID.
func StreamKey(owner, stream string) string { return owner + "\x00" + stream }

// Event is one stored event of a stream.
type Event struct {
	Seq  uint64
	Data []byte // a JSON object
}

// LinkState is a link's delivery state: where it is in its stream and how
// it went.
type LinkState struct {
	Cursor    uint64    `json:"cursor"` // the last event seq delivered (or dropped by a function)
	Delivered uint64    `json:"delivered"`
	Failed    uint64    `json:"failed"` // events a function threw on or timed out on
	Attempts  uint64    `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	LastTry   time.Time `json:"lastAttempt,omitzero"`
	LastOK    time.Time `json:"lastDelivery,omitzero"`
}

// StreamState is what the store says of a stream's backlog.
type StreamState struct {
	Last    uint64 `json:"last"`    // the last seq appended
	Dropped uint64 `json:"dropped"` // events dropped because the backlog was full
	Kept    uint64 `json:"kept"`    // events kept
}

// MaxEventSize bounds one ingested event.
const MaxEventSize = 256 << 10
