// Package svcapi is a client of the Tsuru service API: the HTTP protocol
// an external service's endpoint speaks to create, bind, unbind and remove
// its instances (resources), with HTTP Basic credentials from its manifest.
package svcapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/selfhost/paas/paas"
)

// Bounds of one call to an endpoint.
const (
	callTimeout  = 30 * time.Second
	maxReplySize = 1 << 20
)

// Client calls one service's endpoint.
type Client struct {
	Endpoint, Username, Password string
	// PublicOnly refuses, at every dial, addresses on loopback, private
	// or link-local networks: a user's endpoint must not make the
	// platform call its own host or network (even if its name later
	// resolves there).
	PublicOnly bool
	HTTP       *http.Client // nil: one with callTimeout and no redirects
}

// RefusePrivate is a net.Dialer Control that refuses addresses on
// loopback, private or link-local networks, checked at every dial (so a
// name that later resolves there is refused too): what calls to
// user-given URLs dial with.
func RefusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsLinkLocalMulticast() {
		return fmt.Errorf("refusing to call %s: not a public address", address)
	}
	return nil
}

// httpClient is c.HTTP, or a client that follows no redirect (an
// endpoint is called at its own address only) and, with PublicOnly,
// dials public addresses only.
func (c Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if c.PublicOnly {
		dialer.Control = RefusePrivate
	}
	return &http.Client{Timeout: callTimeout,
		Transport:     &http.Transport{DialContext: dialer.DialContext, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (c Client) do(ctx context.Context, method, path string, form url.Values, ok ...int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Endpoint+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.Username, c.Password)
	res, err := c.httpClient().Do(req)
	if err != nil {
		return nil, unavailable("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxReplySize))
	if err != nil {
		return nil, unavailable("%s %s: reading the answer: %v", method, path, err)
	}
	for _, code := range ok {
		if res.StatusCode == code {
			return data, nil
		}
	}
	text := strings.TrimSpace(string(data))
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return nil, unavailable("%s %s answered %s: %s", method, path, res.Status, text)
}

// unavailable is the error of an endpoint that failed: 502, saying how.
func unavailable(format string, args ...any) error {
	return &paas.Error{Status: http.StatusBadGateway, Code: "service_endpoint_failed",
		Message: "the service's endpoint failed: " + fmt.Sprintf(format, args...)}
}

func resource(instance string, rest ...string) string {
	return "/resources/" + strings.Join(append([]string{url.PathEscape(instance)}, rest...), "/")
}

// Create asks for a new instance owned by team.
func (c Client) Create(ctx context.Context, instance, team string) error {
	_, err := c.do(ctx, http.MethodPost, "/resources", url.Values{"name": {instance}, "team": {team}}, http.StatusCreated, http.StatusOK)
	return err
}

// Remove deletes an instance.
func (c Client) Remove(ctx context.Context, instance string) error {
	_, err := c.do(ctx, http.MethodDelete, resource(instance), nil, http.StatusOK, http.StatusNoContent)
	return err
}

// BindApp binds an instance to an app and returns the variables the app
// is to get.
func (c Client) BindApp(ctx context.Context, instance, appHost, appName string) (map[string]string, error) {
	data, err := c.do(ctx, http.MethodPost, resource(instance, "bind-app"),
		url.Values{"app-host": {appHost}, "app-name": {appName}}, http.StatusCreated, http.StatusOK)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &vars); err != nil {
			return nil, unavailable("bind-app answered no JSON object of strings: %v", err)
		}
	}
	if err := paas.ValidateEnv(vars); err != nil {
		return nil, unavailable("bind-app answered unusable variables: %v", err)
	}
	return vars, nil
}

// UnbindApp undoes BindApp.
func (c Client) UnbindApp(ctx context.Context, instance, appHost, appName string) error {
	q := url.Values{"app-host": {appHost}, "app-name": {appName}}
	_, err := c.do(ctx, http.MethodDelete, resource(instance, "bind-app")+"?"+q.Encode(), q, http.StatusOK, http.StatusNoContent)
	return err
}

// Status reports nil when the instance is up (204 or 200); 202 is still
// being made.
func (c Client) Status(ctx context.Context, instance string) error {
	_, err := c.do(ctx, http.MethodGet, resource(instance, "status"), nil, http.StatusNoContent, http.StatusOK)
	return err
}
