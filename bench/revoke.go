package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// revocation is the outcome of the cross-replica trials.
type revocation struct {
	trials      int
	lat         []time.Duration // A's 2xx to B's first 401, sorted
	firstPoll   int             // trials where B's first poll was already 401
	polls       int             // polls of B in all trials
	cacheHitPct float64         // B's cache hits during the polls
}

type apiClient struct {
	http *http.Client
}

func (c *apiClient) do(ctx context.Context, method, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-WallarmApi-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// revoke measures, trials times: create a token on A, use it once on B (so
// that B caches it), disable it on A, and poll B in a tight loop until it
// answers 401; the time from A's 2xx to B's first 401 is one sample.
func (b *bench) revoke(ctx context.Context, a, bb *instance, caller string, trials int) (*revocation, error) {
	c := &apiClient{http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	res := &revocation{trials: trials}
	before := scrape(bb, metricCacheHit, metricCacheMiss)
	for i := range trials {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		code, body, err := c.do(ctx, http.MethodPost, a.base+"/v2/api_tokens", caller,
			map[string]any{"realname": "revocation trial " + strconv.Itoa(i), "permissions": seedPermissions})
		if err != nil || code != http.StatusCreated {
			return nil, fmt.Errorf("trial %d: create on A: %d %v %s", i, code, err, body)
		}
		var tok struct {
			ID     int64  `json:"id"`
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.Secret == "" {
			return nil, fmt.Errorf("trial %d: create answer %s: %v", i, body, err)
		}
		if code, body, err := c.do(ctx, http.MethodGet, bb.base+"/v2/user", tok.Secret, nil); err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("trial %d: first use on B: %d %v %s", i, code, err, body)
		}
		code, body, err = c.do(ctx, http.MethodPut, a.base+"/v2/api_tokens/"+strconv.FormatInt(tok.ID, 10), caller,
			map[string]any{"enabled": false})
		t0 := time.Now()
		if err != nil || code/100 != 2 {
			return nil, fmt.Errorf("trial %d: disable on A: %d %v %s", i, code, err, body)
		}
		deadline := t0.Add(30 * time.Second)
		for n := 1; ; n++ {
			code, body, err := c.do(ctx, http.MethodGet, bb.base+"/v2/user", tok.Secret, nil)
			if err != nil {
				return nil, fmt.Errorf("trial %d: poll B: %v", i, err)
			}
			res.polls++
			if code == http.StatusUnauthorized {
				res.lat = append(res.lat, time.Since(t0))
				if n == 1 {
					res.firstPoll++
				}
				break
			}
			if code != http.StatusOK {
				return nil, fmt.Errorf("trial %d: poll B: %d %s", i, code, body)
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("trial %d: B still accepts the disabled token after 30 s", i)
			}
		}
	}
	after := scrape(bb, metricCacheHit, metricCacheMiss)
	hits, misses := after[metricCacheHit]-before[metricCacheHit], after[metricCacheMiss]-before[metricCacheMiss]
	if hits+misses > 0 {
		res.cacheHitPct = 100 * hits / (hits + misses)
	}
	slices.Sort(res.lat)
	return res, nil
}
