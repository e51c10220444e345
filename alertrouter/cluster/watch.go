package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// watchKV follows the keys under prefix with blocking queries until ctx
// ends: got is given every answer and says how long to wait before the
// next query (0: at once; Consul holds it until something changes or
// wait passes, 30 s when 0); failed is called after a failed query, before a second's
// pause and a fresh (non-blocking) query. An index going backwards (Consul
// restored or its state reset) starts over from a fresh query, as Consul's
// documentation asks.
func (s *Store) watchKV(ctx context.Context, prefix string, wait time.Duration, failed func(), got func(api.KVPairs) time.Duration) {
	kv := s.c.client.KV()
	follow(ctx, wait, func(error) {
		if failed != nil {
			failed()
		}
	}, func(ctx context.Context, index uint64, wait time.Duration) (api.KVPairs, uint64, error) {
		pairs, meta, err := kv.List(prefix, (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx))
		if err != nil {
			return nil, 0, err
		}
		return pairs, meta.LastIndex, nil
	}, got)
}

// follow runs the blocking queries of a watch: read asks for what
// changed after index (0: at once), waiting up to wait (30 s when 0), and
// returns it with the index of the answer; the rest as watchKV.
func follow[T any](ctx context.Context, wait time.Duration, failed func(error), read func(ctx context.Context, index uint64, wait time.Duration) (T, uint64, error), got func(T) time.Duration) {
	if wait <= 0 {
		wait = 30 * time.Second
	}
	var index uint64
	for ctx.Err() == nil {
		// Consul adds up to wait/16 to spread the answers.
		qctx, cancel := context.WithTimeout(ctx, wait+wait/16+10*time.Second)
		answer, last, err := read(qctx, index, wait)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			index = 0
			failed(err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		if last < index {
			index = 0
		} else {
			index = last
		}
		if pause := got(answer); pause > 0 && !sleepCtx(ctx, pause) {
			return
		}
	}
}

// rawPair is one key of a list read by listRaw: its value still the JSON
// string Consul sent (base64), decoded only when the key changed; nil
// when the caller knew the key at that index.
type rawPair struct {
	Key         string
	ModifyIndex uint64
	Value       json.RawMessage
}

// value is the value of p (nil for a key without one).
func (p *rawPair) value() ([]byte, error) {
	var b []byte
	err := json.Unmarshal(p.Value, &b)
	return b, err
}

// listRaw lists the keys under prefix as the Consul client's KV().List
// does (a blocking query after index, up to wait) and returns them with
// the index of the answer; but it decodes the answer one key at a time,
// and leaves out the value of the keys known says it knows at their
// index (nil: none). KV().List reads the whole answer into one buffer
// that grows by doubling before it decodes it, and decodes every value:
// for a shard of the check records at 50,000 checks, several MB for each
// read of about one, most of a member's allocations.
func (c *Cluster) listRaw(ctx context.Context, prefix string, index uint64, wait time.Duration, known func(key string, index uint64) bool) ([]rawPair, uint64, error) {
	cfg := &c.consul
	u := url.URL{Scheme: cfg.Scheme, Host: cfg.Address, Path: cfg.PathPrefix + "/v1/kv/" + prefix}
	if strings.HasPrefix(u.Host, "/") {
		u.Host = "localhost" // a unix socket, which the client dials whatever the host
	}
	q := url.Values{"recurse": {""}}
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", strconv.FormatInt(max(wait.Milliseconds(), 1), 10)+"ms")
	}
	for k, v := range map[string]string{"dc": cfg.Datacenter, "ns": cfg.Namespace, "partition": cfg.Partition} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("consul: list %s: %w", prefix, err)
	}
	if h := c.client.Headers(); h != nil {
		req.Header = h
	}
	if cfg.Token != "" {
		req.Header.Set("X-Consul-Token", cfg.Token)
	}
	resp, err := cfg.HttpClient.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("consul: list %s: %w", prefix, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
	}()
	last, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	switch {
	case resp.StatusCode == http.StatusNotFound && err == nil:
		return nil, last, nil // nothing under prefix
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, 0, fmt.Errorf("consul: list %s: unexpected response code %d (%s)", prefix, resp.StatusCode, bytes.TrimSpace(msg))
	case err != nil:
		return nil, 0, fmt.Errorf("consul: list %s: X-Consul-Index: %w", prefix, err)
	}
	dec := json.NewDecoder(resp.Body)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, 0, fmt.Errorf("consul: list %s: not a list of keys (%v, %v)", prefix, tok, err)
	}
	var pairs []rawPair
	// One key at a time, into buffers reused from key to key.
	var scratch struct {
		Key         json.RawMessage
		ModifyIndex uint64
		Value       json.RawMessage
	}
	for dec.More() {
		// A field missing from a key must not keep the last key's.
		scratch.Key, scratch.ModifyIndex, scratch.Value = scratch.Key[:0], 0, scratch.Value[:0]
		if err := dec.Decode(&scratch); err != nil {
			return nil, 0, fmt.Errorf("consul: list %s: %w", prefix, err)
		}
		key, err := jsonString(scratch.Key)
		if err != nil {
			return nil, 0, fmt.Errorf("consul: list %s: %w", prefix, err)
		}
		p := rawPair{Key: key, ModifyIndex: scratch.ModifyIndex}
		if known == nil || !known(key, p.ModifyIndex) {
			p.Value = bytes.Clone(scratch.Value)
		}
		pairs = append(pairs, p)
	}
	if _, err := dec.Token(); err != nil {
		return nil, 0, fmt.Errorf("consul: list %s: %w", prefix, err)
	}
	return pairs, last, nil
}

// jsonString decodes a JSON string; one without escapes (every key of the
// check records) is copied as it is.
func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}
