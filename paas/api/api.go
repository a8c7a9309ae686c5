// Package api holds what every API face shares: handlers that return
// errors and the one adapter that turns errors into JSON responses, body
// decoding with size limits, and credential extraction with a rate limit
// on failed attempts.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
)

// HandlerFunc is an httprouter handler that returns its error instead of
// writing it, so error responses are written in one place.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error

// ErrorBody is the one error shape of every face:
// {"error":{"code":"…","message":"…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody. URL is a help link, only on
// faces whose document has one (now).
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	URL     string `json:"url,omitempty"`
}

// Adapter converts HandlerFuncs into httprouter handles.
type Adapter struct {
	Log *slog.Logger
	// Before runs before every handler (a face sets its headers here).
	Before func(w http.ResponseWriter, r *http.Request)
	// Remap, when set, may change the status and code of every error
	// written (a face whose document names errors differently, e.g. now
	// answers failed authentication with 403 authentication_error).
	Remap func(status int, code string) (int, string)
	// ErrorURL, when set, gives the help link written as the error's url.
	ErrorURL func(code string) string
}

// Handle wraps h: it runs Before, recovers panics, and writes any returned
// error with WriteError.
func (a *Adapter) Handle(h HandlerFunc) httprouter.Handle { return a.handleNamed("", h) }

func (a *Adapter) handleNamed(name string, h HandlerFunc) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if reportRoute(w, r, name) {
			return
		}
		if a.Before != nil {
			a.Before(w, r)
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.WriteError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		if err := h(w, r, ps); err != nil {
			a.WriteError(w, r, err)
		}
	}
}

// WriteError writes err as the JSON error shape. Client errors carry their
// message; internal errors are logged with an id and the client gets only
// the id, never the internal text.
func (a *Adapter) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, apiErr, ok := paas.ErrorStatus(err)
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		status, apiErr, ok = http.StatusRequestEntityTooLarge, paas.TooLarge("request body is larger than %d bytes", maxErr.Limit), true
	}
	detail := ErrorDetail{}
	if ok {
		detail.Code, detail.Message = apiErr.Code, apiErr.Message
		if status >= 500 {
			a.logger().Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
	} else {
		id := newErrorID()
		a.logger().Error("internal error", "id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		detail.Code, detail.Message = "internal_error", "internal error (id "+id+")"
	}
	a.writeDetail(w, status, detail)
}

// writeDetail applies the face's Remap and ErrorURL and writes the body.
func (a *Adapter) writeDetail(w http.ResponseWriter, status int, detail ErrorDetail) {
	if a.Remap != nil {
		status, detail.Code = a.Remap(status, detail.Code)
	}
	if a.ErrorURL != nil {
		detail.URL = a.ErrorURL(detail.Code)
	}
	WriteJSON(w, status, ErrorBody{Error: detail})
}

func (a *Adapter) logger() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func newErrorID() string { return paas.RandomHex(6) }

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"code":"internal_error","message":"response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(data)
	w.Write([]byte("\n"))
}

// MaxJSONBody bounds JSON request bodies.
const MaxJSONBody = 1 << 20

// DecodeJSON reads a JSON object body whatever its Content-Type (real
// clients send none, text/plain or form types). An empty body decodes as {}.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := ReadBody(w, r, MaxJSONBody)
	if err != nil {
		return err
	}
	return Unmarshal(raw, v)
}

// ReadBody reads the whole body up to limit bytes (413 beyond).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, paas.TooLarge("request body is larger than %d bytes", limit)
		}
		return nil, paas.BadRequest("reading request body: %v", err)
	}
	return raw, nil
}

// Unmarshal decodes a JSON object, turning syntax and type errors into 400s.
func Unmarshal(raw []byte, v any) error {
	if len(strings.TrimSpace(string(raw))) == 0 {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				return paas.BadRequest("request body must be a JSON %s", jsonKind(v))
			}
			return paas.BadRequest("field %q must be a %s", typeErr.Field, typeErr.Type.String())
		}
		return paas.BadRequest("invalid JSON body: %v", err)
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case *[]any:
		return "array"
	default:
		return "object"
	}
}

// NotFoundHandler answers unknown paths in the error shape.
func (a *Adapter) NotFoundHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Before != nil {
			a.Before(w, r)
		}
		a.WriteError(w, r, paas.NotFound("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// MethodNotAllowedHandler answers known paths with a wrong method.
func (a *Adapter) MethodNotAllowedHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Before != nil {
			a.Before(w, r)
		}
		a.writeDetail(w, http.StatusMethodNotAllowed, ErrorDetail{Code: "method_not_allowed",
			Message: fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)})
	})
}

type shutdownKey struct{}

// WithShutdown returns ctx carrying a channel that closes when the server
// begins shutting down. Ordinary requests simply finish; endless ones (log
// streams) watch it and end, so shutdown does not wait on them.
func WithShutdown(ctx context.Context, stopping <-chan struct{}) context.Context {
	return context.WithValue(ctx, shutdownKey{}, stopping)
}

// ShuttingDown returns the channel set by WithShutdown, or nil (which never
// closes) when there is none.
func ShuttingDown(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(shutdownKey{}).(<-chan struct{})
	return ch
}

// Follow calls poll every period until the request ends, the server
// starts shutting down, or poll returns false: the loop of every followed
// log stream.
func Follow(ctx context.Context, period time.Duration, poll func() bool) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	stopping := ShuttingDown(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stopping:
			return
		case <-tick.C:
			if !poll() {
				return
			}
		}
	}
}
