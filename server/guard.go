package server

import (
	"context"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// Guessing is bounded, and nobody is locked out by someone else (R23).
//
// Failures — wrong sign-ins, wrong current passwords, credentials that do
// not authenticate — are counted in token buckets (golang.org/x/time/rate)
// per account, per client address (IPv6 per /64) and per (account,
// address). What a full bucket refuses depends on the credential:
//
//   - An API token is always looked up first: a valid one always works,
//     whatever anyone else did from the same address. Only a failure is
//     answered 429 instead of 401 once the address's bucket is empty.
//   - A password is the credential attackers guess, so an exhausted bucket
//     refuses the attempt before the hash is even computed — except that
//     an account's own known addresses (where it signed in before) are
//     exempt from the account's and the address's buckets: a flood from
//     elsewhere neither locks the user out nor lets the flood through. The
//     (account, address) bucket still bounds guessing from a known
//     address.
//
// Counting is atomic: an attempt in flight counts as a failure until it
// ends, so parallel guesses cannot overshoot a bucket. The buckets live in
// each replica; with N replicas an attacker spreading over all of them
// gets up to N times the budget (docs/SECURITY.md).
type failureBudget struct {
	every time.Duration // one failure forgiven per every
	burst int
	now   func() time.Time
	keys  *lru.Cache[string, *budgetKey]
}

type budgetKey struct {
	mu       sync.Mutex
	lim      *rate.Limiter // failures
	inflight int
}

func newFailureBudget(burst int, window time.Duration, now func() time.Time) *failureBudget {
	keys, _ := lru.New[string, *budgetKey](100_000)
	return &failureBudget{every: window / time.Duration(burst), burst: burst, now: now, keys: keys}
}

func (b *failureBudget) key(k string) *budgetKey {
	if bk, ok := b.keys.Get(k); ok {
		return bk
	}
	bk := &budgetKey{lim: rate.NewLimiter(rate.Every(b.every), b.burst)}
	// Two first attempts at once must share one bucket.
	if prev, ok, _ := b.keys.PeekOrAdd(k, bk); ok {
		return prev
	}
	return bk
}

// leftLocked is how many failures a key may still have now, the attempts
// in flight counted as failures, and when the next one is forgiven.
func (b *failureBudget) leftLocked(bk *budgetKey) (float64, time.Duration) {
	left := bk.lim.TokensAt(b.now()) - float64(bk.inflight)
	if left >= 1 {
		return left, 0
	}
	return left, time.Duration((1 - left) * float64(b.every))
}

// begin admits an attempt for k unless its failures (and the attempts in
// flight) used the bucket up; wait says when to retry.
func (b *failureBudget) begin(k string) (ok bool, wait time.Duration) {
	bk := b.key(k)
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if left, wait := b.leftLocked(bk); left < 1 {
		return false, wait
	}
	bk.inflight++
	return true, 0
}

// end ends an attempt begin admitted (or, with admitted false, counts a
// failure of an attempt that was never held back).
func (b *failureBudget) end(k string, admitted, failed bool) {
	bk := b.key(k)
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if admitted && bk.inflight > 0 {
		bk.inflight--
	}
	if failed {
		// Reserve, not Allow: a failure always costs its unit, even when
		// rounding left the bucket a hair under one.
		bk.lim.ReserveN(b.now(), 1)
	}
}

// spend counts one failure that was not held back by begin: ok false
// means k's bucket had none left (the failure is answered 429), with when
// to retry. The bucket decides in one step, so that the answer and the
// count cannot disagree.
func (b *failureBudget) spend(k string) (ok bool, wait time.Duration) {
	bk := b.key(k)
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if bk.lim.AllowN(b.now(), 1) {
		return true, 0
	}
	_, wait = b.leftLocked(bk)
	return false, max(wait, time.Second)
}

// forget clears k's failures: its owner proved itself, or an
// administrator replaced the password and ended the sessions the guesses
// came through.
func (b *failureBudget) forget(k string) { b.keys.Remove(k) }

// clientPrefix is the key a client address is counted under: the address
// for IPv4, its /64 for IPv6 (one subscriber holds a whole /64).
func clientPrefix(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func tooManyRequests(wait time.Duration, detail string) *Problem {
	return &Problem{Status: http.StatusTooManyRequests, Kind: "rate-limited", Detail: detail,
		Headers: map[string]string{"Retry-After": retrySeconds(wait)}}
}

func retrySeconds(wait time.Duration) string {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return strconv.Itoa(secs)
}

// retryAfter adds Retry-After to a refusal's problem.
func retryAfter(err error, wait time.Duration) error {
	p := toProblem(err)
	p.Headers = map[string]string{"Retry-After": retrySeconds(wait)}
	return p
}

// countAuthFailures counts every credential that did not authenticate
// against its client address, after the lookup: a valid credential from
// the same address is never refused; a failure from an address whose
// budget is spent answers 429 instead of 401.
func (s *Server) countAuthFailures(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Path() == "/v1/login" || toProblem(err).Status != http.StatusUnauthorized {
			return err
		}
		if ok, wait := s.guard.addresses.spend(clientPrefix(c.RealIP())); !ok {
			return tooManyRequests(wait, "too many failed authentications from this address; retry later")
		}
		return err
	}
}

// limitLeakReports rate-limits the public leak-report route per address.
func (s *Server) limitLeakReports(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == "/v2/api_tokens/revoke_leaked" {
			k := clientPrefix(c.RealIP())
			if ok, wait := s.guard.leaks.begin(k); !ok {
				return tooManyRequests(wait, "too many leak reports from this address; retry later")
			}
			s.guard.leaks.end(k, true, true) // every report counts
		}
		return next(c)
	}
}

// guard holds every failure budget of a server.
type guard struct {
	accounts  *failureBudget // wrong sign-ins per account (e-mail)
	addresses *failureBudget // failures per client address
	pairs     *failureBudget // wrong sign-ins per (account, address)
	passwords *failureBudget // wrong current passwords per user (R23)
	leaks     *failureBudget // leak reports per address
}

// signIn is one sign-in attempt admitted by the guard.
type signIn struct {
	g                            *guard
	account, address, pair       string
	holdAccount, holdAddr, holdP bool
}

// beginSignIn admits a sign-in of account from address, or refuses it
// before any password is hashed; known says whether the account signed in
// from this address before (its known addresses are exempt from the
// account's and the address's buckets, not from the pair's).
func (g *guard) beginSignIn(ctx context.Context, account, address string, known bool) (*signIn, error) {
	a := &signIn{g: g, account: account, address: address, pair: account + " " + address}
	refuse := func(wait time.Duration) (*signIn, error) {
		a.end(false)
		return nil, tooManyRequests(wait, "too many failed sign-ins; retry later")
	}
	var ok bool
	var wait time.Duration
	if ok, wait = g.pairs.begin(a.pair); !ok {
		return refuse(wait)
	}
	a.holdP = true
	if !known {
		if ok, wait = g.accounts.begin(account); !ok {
			return refuse(wait)
		}
		a.holdAccount = true
		if ok, wait = g.addresses.begin(address); !ok {
			return refuse(wait)
		}
		a.holdAddr = true
	}
	_ = ctx
	return a, nil
}

// end ends the attempt: a failure spends a unit of every bucket it was
// counted in (a known address's failures still count against the
// account and the address, so that they are bounded for strangers too).
func (a *signIn) end(failed bool) {
	a.g.pairs.end(a.pair, a.holdP, failed)
	a.g.accounts.end(a.account, a.holdAccount, failed)
	a.g.addresses.end(a.address, a.holdAddr, failed)
}
