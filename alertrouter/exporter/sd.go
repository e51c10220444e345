package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrNotModified is TargetsIfChanged's answer when the target list still
// has the entity tag it was given (HTTP 304).
var ErrNotModified = errors.New("target list not modified")

// ConditionalLister is a Lister that can tell that the list did not
// change since the last one, without sending it: the fetcher keeps the
// entity tag of the list the target source applied and asks with it.
// vigie_exporter's /sd answers 304 to If-None-Match with its current
// ETag; a 10^5-target list is 3.5 MiB of JSON otherwise, read and
// decoded into 10^5 strings every refresh.
type ConditionalLister interface {
	Lister
	// TargetsIfChanged fetches the target list unless it still has the
	// entity tag etag (non-empty): then it returns ErrNotModified. tag is
	// the entity tag of the list returned ("" when the source gives none).
	TargetsIfChanged(ctx context.Context, etag string) (groups []TargetGroup, tag string, err error)
}

// Targets fetches the target list (Prometheus HTTP SD JSON).
func (x *HTTPClient) Targets(ctx context.Context) ([]TargetGroup, error) {
	groups, _, err := x.TargetsIfChanged(ctx, "")
	return groups, err
}

// TargetsIfChanged fetches the target list with If-None-Match: etag.
func (x *HTTPClient) TargetsIfChanged(ctx context.Context, etag string) ([]TargetGroup, string, error) {
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.sdURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("build sd request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range x.headers {
		req.Header.Set(k, v)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		return nil, "", exporterError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // keep the connection
		return nil, "", ErrNotModified
	}
	// The whole answer is read first (JSON is decoded from a complete
	// value in any case), in one buffer of the announced size rather than
	// one doubled from 512 bytes: at 10^5 targets those copies added
	// about 4 MiB to the start-up burst.
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxSDAnswer {
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxSDAnswer)); err != nil {
		return nil, "", exporterError(err)
	}
	body := buf.Bytes()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("target list (%s) answered HTTP %d: %s", x.sdURL, resp.StatusCode, excerpt(body))
	}
	var groups []TargetGroup
	if err := json.Unmarshal(body, &groups); err != nil {
		return nil, "", fmt.Errorf("target list (%s) is not Prometheus HTTP SD JSON: %w", x.sdURL, err)
	}
	return groups, resp.Header.Get("ETag"), nil
}
