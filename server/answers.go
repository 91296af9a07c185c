package server

import (
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/tokend/tokend/gen/api"
)

// answers are the responses that depend on nothing but the principal: who
// the caller is (GET /v2/user, GET and POST /v1/user) and what a verified
// token is (POST /v2/api_tokens/verify). They are encoded once per
// principal and then copied: the verification cache keeps principals, so
// for a hot token these answers cost a write, not a reflection walk over
// fifty permission names (the largest part of the hit path's CPU before).
// A principal changes only by being replaced (a new admission), so the
// bytes cannot go stale.
type answers struct {
	currentUser atomic.Pointer[[]byte]
	wallarmUser atomic.Pointer[[]byte]
	verified    atomic.Pointer[[]byte] // without permission_granted and the closing brace
}

// encoded returns slot's bytes, encoding v() into it on first use. Two
// requests racing on the first use both encode; either result is the same.
func encoded(slot *atomic.Pointer[[]byte], v func() any) ([]byte, error) {
	if b := slot.Load(); b != nil {
		return *b, nil
	}
	b, err := json.Marshal(v())
	if err != nil {
		return nil, err
	}
	b = append(b, '\n') // as json.Encoder writes it, which the generated responses use
	slot.Store(&b)
	return b, nil
}

func (p *Principal) answerSet() *answers {
	if p.answers == nil { // a principal built outside admit (none today); encode each time
		return &answers{}
	}
	return p.answers
}

// currentUserJSON is GET /v2/user's body for p.
func (p *Principal) currentUserJSON() ([]byte, error) {
	return encoded(&p.answerSet().currentUser, func() any { return currentUser(p) })
}

// wallarmUserJSON is GET and POST /v1/user's body for p.
func (p *Principal) wallarmUserJSON() ([]byte, error) {
	return encoded(&p.answerSet().wallarmUser, func() any {
		return api.WallarmUserDetailsEnvelope{Status: wallarmOK, Body: wallarmUserDetails(p)}
	})
}

// verifiedJSON is verify's "active" body for the verified token p, with
// permission_granted added when granted is not nil.
func (p *Principal) verifiedJSON(granted *bool) ([]byte, error) {
	b, err := encoded(&p.answerSet().verified, func() any { return verifiedResult(p) })
	if err != nil || granted == nil {
		return b, err
	}
	// b is `{…}\n`: splice the member in before the closing brace.
	out := make([]byte, 0, len(b)+28)
	out = append(out, b[:len(b)-2]...)
	if *granted {
		out = append(out, `,"permission_granted":true}`...)
	} else {
		out = append(out, `,"permission_granted":false}`...)
	}
	return append(out, '\n'), nil
}

func verifiedResult(p *Principal) api.VerifyResult {
	return api.VerifyResult{
		Active:      true,
		TokenId:     &p.Token.ID,
		UserId:      nullOf(userIDPtr(p)),
		ClientId:    &p.Token.ClientID,
		Shared:      &p.Token.Shared,
		Permissions: ptrTo(p.Effective.Names()),
		ExpireAt:    nullTime(p.Token.ExpireAt),
	}
}

// jsonOK is a 200 answer whose JSON body is already encoded. It is every
// response object whose body it can stand for, as the strict handlers
// take them.
type jsonOK []byte

func (b jsonOK) write(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

func (b jsonOK) VisitGetCurrentUserResponse(w http.ResponseWriter) error { return b.write(w) }
func (b jsonOK) VisitWallarmGetUserResponse(w http.ResponseWriter) error { return b.write(w) }
func (b jsonOK) VisitWallarmPostUserResponse(w http.ResponseWriter) error {
	return b.write(w)
}
func (b jsonOK) VisitVerifyTokenResponse(w http.ResponseWriter) error { return b.write(w) }
func (b jsonOK) VisitListTokensResponse(w http.ResponseWriter) error  { return b.write(w) }
