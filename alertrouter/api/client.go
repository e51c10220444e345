package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to a router's (or an Alertmanager's) API v2.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// maxAnswer bounds how much of the router's answer the client reads.
const maxAnswer = 64 << 20

// NewClient returns a client of the router at baseURL
// (http://127.0.0.1:9116, possibly with a path prefix). hc carries the
// authentication and TLS settings; nil means http.DefaultClient.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("bad router URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("bad router URL %q: want http(s)://host:port", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, hc: hc}, nil
}

// Status returns the router's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, "status", nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Silences lists the silences whose equality matchers satisfy filter
// (Prometheus matchers such as `alertname="X"`).
func (c *Client) Silences(ctx context.Context, filter []string) ([]GettableSilence, error) {
	var out []GettableSilence
	if err := c.do(ctx, http.MethodGet, "silences", url.Values{"filter": filter}, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Silence returns one silence.
func (c *Client) Silence(ctx context.Context, id string) (*GettableSilence, error) {
	var out GettableSilence
	if err := c.do(ctx, http.MethodGet, "silence/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PostSilence creates (or, with an id, updates) a silence and returns the
// id of the silence in force.
func (c *Client) PostSilence(ctx context.Context, s *PostableSilence) (string, error) {
	var out PostSilenceResponse
	if err := c.do(ctx, http.MethodPost, "silences", nil, s, &out); err != nil {
		return "", err
	}
	return out.SilenceID, nil
}

// ExpireSilence ends a silence now.
func (c *Client) ExpireSilence(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "silence/"+url.PathEscape(id), nil, nil, nil)
}

// APIError is an answer other than 200; Message is the server's.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("router answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("router answered %d: %s", e.Code, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.base.JoinPath("api", "v2", path)
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &APIError{Code: resp.StatusCode, Message: errorMessage(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: cannot decode the answer: %w", method, u.Path, err)
	}
	return nil
}

// errorMessage reads an error body: a JSON string (Alertmanager's
// BadRequest) or plain text (a proxy, basic auth).
func errorMessage(data []byte) string {
	var s string
	if json.Unmarshal(data, &s) == nil {
		return s
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}
