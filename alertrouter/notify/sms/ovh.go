package sms

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// ovhJob is the body of POST /sms/{serviceName}/jobs.
type ovhJob struct {
	Message           string   `json:"message"`
	Receivers         []string `json:"receivers"`
	Sender            string   `json:"sender,omitempty"`
	SenderForResponse bool     `json:"senderForResponse,omitempty"`
	NoStopClause      bool     `json:"noStopClause"`
	Priority          string   `json:"priority,omitempty"`
	Charset           string   `json:"charset"`
	Coding            string   `json:"coding"`
}

// ovhJobResult is the API's answer to a job.
type ovhJobResult struct {
	IDs              []int64  `json:"ids"`
	InvalidReceivers []string `json:"invalidReceivers"`
	ValidReceivers   []string `json:"validReceivers"`
}

// ovhError is the body of an OVH API error.
type ovhError struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

func (n *Notifier) ovhBaseURL() string {
	if n.cfg.APIURL != "" {
		return strings.TrimSuffix(n.cfg.APIURL, "/")
	}
	endpoint := n.cfg.Endpoint
	if endpoint == "" {
		endpoint = "ovh-eu"
	}
	if u, ok := config.OVHEndpoint(endpoint); ok {
		return u
	}
	return strings.TrimSuffix(endpoint, "/")
}

// ovhSignature is the OVH API v1 request signature:
// "$1$" + hex(SHA1(AS+"+"+CK+"+"+METHOD+"+"+URL+"+"+BODY+"+"+TIMESTAMP)).
func ovhSignature(appSecret, consumerKey, method, fullURL, body, timestamp string) string {
	sum := sha1.Sum([]byte(strings.Join([]string{appSecret, consumerKey, method, fullURL, body, timestamp}, "+")))
	return "$1$" + hex.EncodeToString(sum[:])
}

// ovhTime returns OVH's idea of now: the API refuses requests signed with a
// timestamp too far from its clock, so the offset is learnt from
// GET /auth/time (unauthenticated) once, as OVH's own clients do.
func (n *Notifier) ovhTime(ctx context.Context, base string) time.Time {
	n.ovhMu.Lock()
	defer n.ovhMu.Unlock()
	if n.ovhTimeDelta == nil {
		delta, err := n.fetchOVHTimeDelta(ctx, base)
		if err != nil {
			n.logger.Debug("Could not read OVH's clock, signing with the local one", "err", err)
			return n.now()
		}
		n.ovhTimeDelta = &delta
	}
	return n.now().Add(*n.ovhTimeDelta)
}

func (n *Notifier) fetchOVHTimeDelta(ctx context.Context, base string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/auth/time", nil)
	if err != nil {
		return 0, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := notify.ReadBody(resp)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /auth/time: HTTP %d", resp.StatusCode)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GET /auth/time: %w", err)
	}
	return time.Unix(secs, 0).Sub(n.now()), nil
}

// sendOVH creates an SMS job (POST /sms/{serviceName}/jobs) signed with
// the application secret and consumer key.
func (n *Notifier) sendOVH(ctx context.Context, _ *notify.Data, text string) (bool, error) {
	secrets, err := n.secrets()
	if err != nil {
		return false, fmt.Errorf("sms ovh: %w", err)
	}
	appSecret, consumerKey := secrets[0], secrets[1]
	job := ovhJob{
		Message:      text,
		Receivers:    []string{n.cfg.To},
		Sender:       n.cfg.From,
		NoStopClause: n.cfg.NoStopClause == nil || *n.cfg.NoStopClause,
		Priority:     n.cfg.Priority,
		Charset:      "UTF-8",
		Coding:       "7bit",
	}
	if n.cfg.Unicode {
		job.Coding = "8bit"
	}
	if job.Sender == "" {
		// Without a registered sender, OVH sends from a short number.
		job.SenderForResponse = true
	}
	body, err := json.Marshal(job)
	if err != nil {
		return false, fmt.Errorf("sms ovh: %w", err)
	}
	base := n.ovhBaseURL()
	fullURL := base + "/sms/" + url.PathEscape(n.cfg.ServiceName) + "/jobs"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fullURL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("sms ovh: %w", err)
	}
	timestamp := strconv.FormatInt(n.ovhTime(ctx, base).Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Ovh-Application", n.cfg.ApplicationKey)
	req.Header.Set("X-Ovh-Consumer", consumerKey)
	req.Header.Set("X-Ovh-Timestamp", timestamp)
	req.Header.Set("X-Ovh-Signature", ovhSignature(appSecret, consumerKey, http.MethodPost, fullURL, string(body), timestamp))
	resp, err := n.client.Do(req)
	if err != nil {
		return n.transportError(err, secrets)
	}
	answer, err := notify.ReadBody(resp)
	if err != nil {
		return n.transportError(err, secrets)
	}
	if resp.StatusCode/100 != 2 {
		msg := fmt.Sprintf("HTTP %d: %s", resp.StatusCode, notify.BodyExcerpt(answer))
		var e ovhError
		if json.Unmarshal(answer, &e) == nil && e.Message != "" {
			msg = fmt.Sprintf("%s (HTTP %d)", e.Message, resp.StatusCode)
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			msg += ": check application_key, application_secret, consumer_key and that the consumer key may POST /sms/*/jobs"
		case http.StatusNotFound:
			msg += ": check service_name"
		}
		return n.refused(resp.StatusCode, resp.Header, msg)
	}
	var res ovhJobResult
	if err := json.Unmarshal(answer, &res); err != nil {
		return false, fmt.Errorf("sms ovh: unexpected answer: %s", notify.BodyExcerpt(answer))
	}
	if len(res.InvalidReceivers) > 0 || len(res.ValidReceivers) == 0 {
		return false, fmt.Errorf("sms ovh: receiver %s refused (invalid receivers: %v)", n.cfg.To, res.InvalidReceivers)
	}
	return false, nil
}
