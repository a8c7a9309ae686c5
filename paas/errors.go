package paas

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Wrap them with context; the API layer maps them to
// statuses with errors.Is, so a store failure is never mistaken for one.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("already exists")
	ErrForbidden    = errors.New("forbidden")
	ErrUnauthorized = errors.New("unauthorized")
	ErrBadRequest   = errors.New("bad request")
	ErrTooLarge     = errors.New("too large")
	ErrRateLimited  = errors.New("too many requests")
)

// Error is an error meant for the API client: a status, a stable
// machine-readable code and a human message. Internal errors are never sent
// to clients; only *Error values are.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error // the sentinel it stands for, for errors.Is
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

func newError(status int, code string, sentinel error, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...), Err: sentinel}
}

// BadRequest reports invalid input (400).
func BadRequest(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, "bad_request", ErrBadRequest, format, args...)
}

// NotFound reports a missing object (404).
func NotFound(format string, args ...any) *Error {
	return newError(http.StatusNotFound, "not_found", ErrNotFound, format, args...)
}

// Conflict reports an object that already exists or a state clash (409).
func Conflict(format string, args ...any) *Error {
	return newError(http.StatusConflict, "conflict", ErrConflict, format, args...)
}

// Forbidden reports an authenticated caller acting beyond its rights (403).
func Forbidden(format string, args ...any) *Error {
	return newError(http.StatusForbidden, "forbidden", ErrForbidden, format, args...)
}

// Unauthorized reports missing or bad credentials (401).
func Unauthorized(format string, args ...any) *Error {
	return newError(http.StatusUnauthorized, "unauthorized", ErrUnauthorized, format, args...)
}

// TooLarge reports a body or archive over its bound (413).
func TooLarge(format string, args ...any) *Error {
	return newError(http.StatusRequestEntityTooLarge, "too_large", ErrTooLarge, format, args...)
}

// RateLimited reports a caller that must slow down (429).
func RateLimited(format string, args ...any) *Error {
	return newError(http.StatusTooManyRequests, "rate_limited", ErrRateLimited, format, args...)
}

// ErrorStatus returns the HTTP status and the client-safe error for err.
// Errors that are not *Error but wrap a sentinel get the sentinel's status;
// anything else is an internal error (500) whose text must not reach clients.
func ErrorStatus(err error) (int, *Error, bool) {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Status, apiErr, true
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, NotFound("not found"), true
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, Conflict("already exists"), true
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, Forbidden("forbidden"), true
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, Unauthorized("unauthorized"), true
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, BadRequest("bad request"), true
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, TooLarge("too large"), true
	}
	return http.StatusInternalServerError, nil, false
}

// IsNotFound reports whether err means a missing object.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
