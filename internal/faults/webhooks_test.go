package faults

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// delivery is one POST the receiver got.
type delivery struct {
	id     string // X-Tokend-Delivery
	path   string
	at     time.Time
	remote string
}

// receiver is the webhook endpoint of the test: /slow answers after 9 s
// (under the 10 s client timeout); /crash hands the first attempt of each
// delivery to onFirst and holds it open, and answers 200 to the rest.
type receiver struct {
	srv     *http.Server
	ln      net.Listener
	mu      sync.Mutex
	got     []delivery
	onFirst func(d delivery)
}

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{ln: ln}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

func (rc *receiver) url(path string) string { return "http://" + rc.ln.Addr().String() + path }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	d := delivery{id: r.Header.Get("X-Tokend-Delivery"), path: r.URL.Path, at: time.Now(), remote: r.RemoteAddr}
	rc.mu.Lock()
	first := true
	for _, g := range rc.got {
		if g.id == d.id && g.path == d.path {
			first = false
		}
	}
	rc.got = append(rc.got, d)
	onFirst := rc.onFirst
	rc.mu.Unlock()
	switch {
	case r.URL.Path == "/slow":
		select {
		case <-time.After(9 * time.Second):
		case <-r.Context().Done():
			return
		}
	case r.URL.Path == "/crash" && first && onFirst != nil:
		onFirst(d)
		<-r.Context().Done() // the sender died: the connection is gone
		return
	}
	w.WriteHeader(http.StatusOK)
}

// deliveries are the POSTs to path so far, and how many ids came more than once.
func (rc *receiver) deliveries(path string) (all []delivery, distinct, dups int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	seen := map[string]int{}
	for _, d := range rc.got {
		if d.path == path {
			all = append(all, d)
			seen[d.id]++
		}
	}
	for _, n := range seen {
		dups += n - 1
	}
	return all, len(seen), dups
}

// socketOwner finds which of the replicas holds the client end of a TCP
// connection to the receiver (remote is the peer address the receiver saw).
func socketOwner(remote string, rs []*replica) *replica {
	// The socket table can lag the accept by a moment; IPv4 and IPv6.
	for range 20 {
		if r := socketOwnerOnce(remote, rs); r != nil {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func socketOwnerOnce(remote string, rs []*replica) *replica {
	_, portStr, _ := net.SplitHostPort(remote)
	port, _ := strconv.Atoi(portStr)
	want := fmt.Sprintf(":%04X", port)
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && strings.HasSuffix(fields[1], want) && fields[9] != "0" {
				inode = fields[9]
				break
			}
		}
		f.Close()
		if inode != "" {
			break
		}
	}
	if inode == "" {
		return nil
	}
	for _, r := range rs {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", r.pid()))
		for _, fd := range fds {
			if l, _ := os.Readlink(fd); l == "socket:["+inode+"]" {
				return r
			}
		}
	}
	return nil
}

// deliveryStates reads the webhook's delivery log through r.
func (h *harness) deliveryStates(r *replica, admin string, hook int64) (map[string]string, error) {
	a := h.do(r.base, http.MethodGet, "/v2/webhooks/"+strconv.FormatInt(hook, 10)+"/deliveries?limit=100", admin, nil)
	var page struct {
		Items []struct {
			ID       int64  `json:"id"`
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
		} `json:"items"`
	}
	if err := expect(a, "delivery log", http.StatusOK); err != nil {
		return nil, err
	}
	if err := a.decode(&page); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, it := range page.Items {
		out[strconv.FormatInt(it.ID, 10)] = fmt.Sprintf("%s/%d", it.Status, it.Attempts)
	}
	return out, nil
}

func (d *deployment) createWebhook(r *replica, url string) (int64, error) {
	a := d.h.do(r.base, http.MethodPost, "/v2/webhooks", d.admin, map[string]any{"url": url, "events": []string{"token.disabled"}})
	var w struct {
		ID int64 `json:"id"`
	}
	if err := expect(a, "create webhook", http.StatusCreated); err != nil {
		return 0, err
	}
	err := a.decode(&w)
	return w.ID, err
}

// disableTokens makes n token.disabled events.
func (d *deployment) disableTokens(r *replica, n int) error {
	for range n {
		tok, _, err := d.createToken(r, d.admin)
		if err != nil {
			return err
		}
		if err := expect(d.h.do(r.base, http.MethodPut, "/v2/api_tokens/"+strconv.FormatInt(tok.ID, 10), d.admin, map[string]any{"enabled": false}),
			"disable token", http.StatusOK); err != nil {
			return err
		}
	}
	return nil
}

// startSenders starts the three replicas of the webhook scenario (before
// the others begin, so that their start does not weigh on measurements).
func startSenders(t *testing.T, d *deployment) []*replica {
	var ws []*replica
	for i := 1; i <= 3; i++ {
		ws = append(ws, d.mustStart(t, fmt.Sprintf("W%d", i), map[string]string{"TOKEND_WEBHOOK_ALLOW_LOOPBACK": "true"}))
	}
	return ws
}

func scenarioWebhooks(t *testing.T, h *harness, d *deployment, ws []*replica) {
	rc, err := newReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.srv.Close()
	for _, w := range ws {
		defer w.stop()
	}
	t.Run("a slow receiver", func(t *testing.T) { webhookSlow(t, h, d, rc, ws) })
	t.Run("b sender killed", func(t *testing.T) { webhookKilled(t, h, d, rc, ws) })
}

// webhookSlow: a receiver answering after 9 s, nothing failing: each
// delivery arrives once.
func webhookSlow(t *testing.T, h *harness, d *deployment, rc *receiver, ws []*replica) {
	h.begin(t)
	const events = 3
	hook, err := d.createWebhook(ws[0], rc.url("/slow"))
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := d.disableTokens(ws[0], events); err != nil {
		t.Fatal(err)
	}
	var findings []string
	var states map[string]string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		states, err = h.deliveryStates(ws[1], d.admin, hook)
		done := err == nil && len(states) == events
		for _, s := range states {
			done = done && strings.HasPrefix(s, "delivered")
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			findings = append(findings, fmt.Sprintf("deliveries not all delivered after 60 s: %v %v", states, err))
			break
		}
	}
	took := time.Since(begin)
	time.Sleep(2 * time.Second) // a duplicate would be on its way by now
	all, distinct, dups := rc.deliveries("/slow")
	if distinct != events {
		findings = append(findings, fmt.Sprintf("the receiver got %d distinct deliveries, want %d", distinct, events))
	}
	if dups > 0 {
		findings = append(findings, fmt.Sprintf("%d duplicate deliveries with nothing failing (ids %v)", dups, ids(all)))
	}
	// Stop this webhook before the next part.
	_ = h.do(ws[0].base, http.MethodDelete, "/v2/webhooks/"+strconv.FormatInt(hook, 10), d.admin, nil)
	h.report(t, resultRow{scenario: "9a webhooks: receiver answering after 9 s", trials: fmt.Sprintf("%d deliveries, 3 senders", events),
		maxAccept: "-", duplicates: strconv.Itoa(dups),
		notes: fmt.Sprintf("%d POSTs received, all delivered %s after the events; states %v", len(all), took.Round(100*time.Millisecond), states)},
		findings, ws...)
}

// webhookKilled: the replica holding a delivery's claim is killed with
// SIGKILL mid-request; another replica retries it once the lease runs out.
func webhookKilled(t *testing.T, h *harness, d *deployment, rc *receiver, ws []*replica) {
	h.begin(t)
	var findings []string
	killed := make(chan *replica, 1)
	var firstAt time.Time
	rc.mu.Lock()
	rc.onFirst = func(dl delivery) {
		firstAt = dl.at
		owner := socketOwner(dl.remote, ws)
		if owner != nil {
			owner.kill9()
		}
		killed <- owner
	}
	rc.mu.Unlock()
	hook, err := d.createWebhook(ws[0], rc.url("/crash"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.disableTokens(ws[0], 1); err != nil {
		t.Fatal(err)
	}
	var victim *replica
	select {
	case victim = <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery never arrived")
	}
	if victim == nil {
		t.Fatal("harness: could not tell which replica sent the delivery")
	}
	var alive []*replica
	for _, w := range ws {
		if w != victim {
			alive = append(alive, w)
		}
	}
	// Wait for the retry.
	var retryAfter time.Duration
	var all []delivery
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		all, _, _ = rc.deliveries("/crash")
		if len(all) >= 2 {
			retryAfter = all[1].at.Sub(firstAt)
			break
		}
		if time.Now().After(deadline) {
			findings = append(findings, fmt.Sprintf("no retry within 60 s of %s's death (lease 30 s)", victim.name))
			break
		}
	}
	if retryAfter > 40*time.Second {
		findings = append(findings, fmt.Sprintf("the retry came %s after the first attempt: the lease is 30 s and senders tick every 5 s", ms(retryAfter)))
	}
	var retriedBy string
	if len(all) >= 2 {
		if r := socketOwner(all[1].remote, alive); r != nil {
			retriedBy = r.name
		}
	}
	// It ends delivered, and nothing more arrives.
	var states map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if states, err = h.deliveryStates(alive[0], d.admin, hook); err == nil && len(states) == 1 {
			for _, s := range states {
				if strings.HasPrefix(s, "delivered") {
					deadline = time.Now()
				}
			}
		}
	}
	time.Sleep(2 * time.Second)
	all, _, dups := rc.deliveries("/crash")
	delivered := false
	for _, s := range states {
		delivered = strings.HasPrefix(s, "delivered")
	}
	if !delivered {
		findings = append(findings, fmt.Sprintf("the delivery is not delivered after the retry: %v", states))
	}
	if dups > 1 {
		findings = append(findings, fmt.Sprintf("%d duplicates: more than the one retry of the attempt cut by the kill", dups))
	}
	h.report(t, resultRow{scenario: "9b webhooks: kill -9 of the sender holding the claim", trials: "1 delivery, 3 senders",
		maxAccept: "-", duplicates: fmt.Sprintf("%d (at-least-once: the receiver saw the cut attempt; X-Tokend-Delivery %v)", dups, ids(all)),
		notes: fmt.Sprintf("%s killed mid-request; retried by %s %s after the first attempt; state %v", victim.name, retriedBy, ms(retryAfter), states)},
		findings, alive...)
}

func ids(ds []delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.id)
	}
	return out
}
