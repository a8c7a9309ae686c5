package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/selfhost/paas/paas/svcapi"
)

// destination delivers a batch of events (JSON objects) or fails whole:
// the batch is then sent again, so a destination sees each event at least
// once.
type destination interface {
	deliver(ctx context.Context, batch [][]byte) error
}

// webhookTimeout bounds one delivery to a webhook.
const webhookTimeout = 15 * time.Second

// SignatureHeader carries sha256=<hex HMAC-SHA256 of the body with the
// destination's secret>, for the receiver to check.
const SignatureHeader = "X-Paas-Signature"

type webhook struct {
	url, method, secret string
	headers             http.Header
	client              *http.Client
}

func newWebhook(obj map[string]any, allowPrivate bool) (*webhook, error) {
	w := &webhook{url: str(obj, "url"), method: str(obj, "method"), secret: str(obj, "secret"), headers: http.Header{}}
	if w.method == "" {
		w.method = http.MethodPost
	}
	if hs, ok := obj["headers"].([]any); ok {
		for _, h := range hs {
			s, _ := h.(string)
			name, value, ok := strings.Cut(s, ":")
			if !ok {
				return nil, fmt.Errorf("header %q is not \"Name: value\"", s)
			}
			w.headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = svcapi.RefusePrivate
	}
	w.client = &http.Client{Timeout: webhookTimeout,
		Transport:     &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w, nil
}

func (w *webhook) deliver(ctx context.Context, batch [][]byte) error {
	body := append([]byte{'['}, bytes.Join(batch, []byte{','})...)
	body = append(body, ']')
	req, err := http.NewRequestWithContext(ctx, w.method, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range w.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paas-events")
	if w.secret != "" {
		m := hmac.New(sha256.New, []byte(w.secret))
		m.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	res, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.url, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", w.url, res.Status)
	}
	return nil
}

// DefaultFileMax is where a file destination rotates.
const DefaultFileMax = 64 << 20

// file appends NDJSON, fsynced before a batch counts as delivered; past
// max bytes the file becomes <path>.1 (replacing the previous one) and a
// new one starts, so a file destination holds at most about 2 x max.
type file struct {
	mu   sync.Mutex
	path string
	max  int64
}

func newFile(dir string, obj map[string]any) (*file, error) {
	name := str(obj, "path")
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("invalid file name %q", name)
	}
	f := &file{path: filepath.Join(dir, name), max: DefaultFileMax}
	if m, ok := obj["maxBytes"].(float64); ok && m > 0 {
		f.max = int64(m)
	}
	return f, nil
}

func (f *file) deliver(_ context.Context, batch [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, e := range batch {
		buf.Write(e)
		buf.WriteByte('\n')
	}
	if st, err := os.Stat(f.path); err == nil && st.Size() > 0 && st.Size()+int64(buf.Len()) > f.max {
		if err := os.Rename(f.path, f.path+".1"); err != nil {
			return fmt.Errorf("rotate %s: %w", f.path, err)
		}
	}
	out, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.Write(buf.Bytes()); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func str(obj map[string]any, k string) string {
	s, _ := obj[k].(string)
	return s
}

func decodeObject(raw []byte) (map[string]any, error) {
	var m map[string]any
	err := json.Unmarshal(raw, &m)
	return m, err
}
