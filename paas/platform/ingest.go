package platform

import (
	"bytes"
	"context"
	"encoding/json"

	"time"

	"github.com/selfhost/paas/paas"
)

// EventRouter delivers the streams' events to their links (events.Router).
type EventRouter interface {
	// Reload makes delivery follow a changed configuration.
	Reload()
	// Append stores a stream's events durably and wakes its links.
	Append(streamKey string, events [][]byte) error
}

// SetEventRouter gives the platform its event router.
func (p *Platform) SetEventRouter(r EventRouter) { p.router = r }

func (p *Platform) reloadEvents() {
	if p.router != nil {
		p.router.Reload()
	}
}

// MaxIngestBatch bounds the events of one ingest request.
const MaxIngestBatch = 500

// Ingest stores events posted to an ingest stream with one of its write
// keys ("<keyId>:<secret>"): a JSON object or an array of them, each given
// a messageId (unless it has one), a type (typ, unless it has one) and
// receivedAt. It returns once they are committed, with how many.
func (p *Platform) Ingest(ctx context.Context, writeKey, typ string, body []byte) (int, error) {
	if p.router == nil {
		return 0, paas.NotFound("this server routes no events")
	}
	if writeKey == "" {
		return 0, paas.Unauthorized("a write key is required (X-Write-Key: <keyId>:<secret>)")
	}
	owner, stream, err := p.store.StreamOfWriteKey(paas.SHA256Hex(writeKey))
	if err != nil {
		return 0, err
	}
	raw, err := p.store.Config(owner, paas.TypeStream, stream)
	if err != nil {
		return 0, paas.Unauthorized("invalid write key")
	}
	obj, err := decodeConfig(raw)
	if err != nil {
		return 0, err
	}
	if kind := paas.ConfigString(obj, "kind"); kind != "" && kind != "ingest" {
		return 0, paas.BadRequest("stream %s is an %s stream: it takes no posted events", stream, kind)
	}
	var list []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return 0, paas.BadRequest("the body is not JSON: %v", err)
		}
	} else {
		list = []json.RawMessage{trimmed}
	}
	if len(list) == 0 || len(list) > MaxIngestBatch {
		return 0, paas.BadRequest("post 1 to %d events at once, not %d", MaxIngestBatch, len(list))
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	evs := make([][]byte, 0, len(list))
	for i, e := range list {
		if len(e) > paas.MaxEventSize {
			return 0, paas.TooLarge("event %d is larger than %d bytes", i, paas.MaxEventSize)
		}
		var m map[string]any
		if err := json.Unmarshal(e, &m); err != nil || m == nil {
			return 0, paas.BadRequest("event %d is not a JSON object", i)
		}
		if paas.ConfigString(m, "messageId") == "" {
			m["messageId"] = paas.RandomID("", 24)
		}
		if paas.ConfigString(m, "type") == "" && typ != "" && typ != "event" {
			m["type"] = typ
		}
		m["receivedAt"] = now
		b, err := json.Marshal(m)
		if err != nil {
			return 0, err
		}
		evs = append(evs, b)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := p.router.Append(paas.StreamKey(owner, stream), evs); err != nil {
		return 0, err
	}
	return len(evs), nil
}

// withStatus adds a link's delivery state to its object: where it is in
// its stream, what it delivered, what failed, the last error.
func (p *Platform) withStatus(owner, typ string, obj map[string]any) map[string]any {
	if typ != paas.TypeLink {
		return obj
	}
	st, _, err := p.store.LinkState(owner, paas.ConfigString(obj, "id"))
	if err != nil {
		return obj
	}
	ss, _ := p.store.StreamState(paas.StreamKey(owner, paas.ConfigString(obj, "fromId")))
	pending := uint64(0)
	if ss.Last > st.Cursor {
		pending = ss.Last - st.Cursor
	}
	obj["status"] = map[string]any{"delivered": st.Delivered, "failed": st.Failed, "pending": pending, "dropped": ss.Dropped,
		"lastError": st.LastError, "lastAttempt": st.LastTry, "lastDelivery": st.LastOK}
	return obj
}

// ServiceEndpoint is how the event router reaches owner's database name
// (a destination of type service): its service, its address from the
// platform, and its password.
func (p *Platform) ServiceEndpoint(ctx context.Context, owner, name string) (service, addr, password string, err error) {
	d, err := p.store.Database(owner, name)
	if err != nil {
		return "", "", "", err
	}
	if d.External || d.Instance == "" || d.Status != paas.DatabaseStatusRunning {
		return "", "", "", paas.BadRequest("database %s of %s runs no server of this platform", name, owner)
	}
	addr, err = p.deployer.ServiceAddr(ctx, d.Instance)
	if err != nil {
		return "", "", "", err
	}
	return d.Service, addr, d.Password, nil
}
