package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The answers of the hot path are written by hand: who the caller is
// (GET /v2/user, GET and POST /v1/user) and what a verified token is
// (POST /v2/api_tokens/verify). Encoding fifty permission names by
// reflection was the largest part of a cached request's CPU (issue 16);
// here the permission list is encoded once per distinct set
// (perm.Set.JSON, shared by every principal holding that set), so a cached
// token costs no memory for its answers. TestAnswersMatchTheModels compares
// each with encoding/json's output of the generated model, byte for byte.

// currentUserJSON is GET /v2/user's body for p (currentUser's encoding).
func (p *Principal) currentUserJSON() []byte {
	perms := p.Effective.JSON()
	buf := answerBuffer(320 + len(perms))
	id, email, realname, enabled, sso, apiAccess, uid := p.userFields()
	created := p.createdAt()
	buf = append(buf, `{"api_access":`...)
	buf = strconv.AppendBool(buf, apiAccess)
	buf = append(buf, `,"client_id":`...)
	buf = strconv.AppendInt(buf, p.Client.ID, 10)
	buf = append(buf, `,"client_name":`...)
	buf = appendJSONString(buf, p.Client.Name)
	buf = append(buf, `,"created_at":`...)
	buf = appendJSONTime(buf, created)
	buf = append(buf, `,"email":`...)
	buf = appendJSONString(buf, email)
	buf = append(buf, `,"enabled":`...)
	buf = strconv.AppendBool(buf, enabled)
	buf = append(buf, `,"id":`...)
	buf = strconv.AppendInt(buf, id, 10)
	buf = append(buf, `,"permissions":`...)
	buf = append(buf, perms...)
	buf = append(buf, `,"realname":`...)
	buf = appendJSONString(buf, realname)
	buf = append(buf, `,"role":`...)
	buf = appendJSONString(buf, string(p.Role))
	buf = append(buf, `,"sso":`...)
	buf = strconv.AppendBool(buf, sso)
	buf = append(buf, `,"token_id":`...)
	if p.Token != nil {
		buf = strconv.AppendInt(buf, p.Token.ID, 10)
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"uuid":"`...)
	buf = append(buf, uid...)
	return append(buf, "\"}\n"...)
}

// wallarmUserJSON is GET and POST /v1/user's body for p
// (wallarmUserDetails in its envelope).
func (p *Principal) wallarmUserJSON() []byte {
	perms := p.Effective.JSON()
	buf := answerBuffer(400 + len(perms))
	id, email, realname, enabled, sso, apiAccess, uid := p.userFields()
	buf = append(buf, `{"body":{"actual_permissions":`...)
	buf = append(buf, perms...)
	buf = append(buf, `,"api_access":`...)
	buf = strconv.AppendBool(buf, apiAccess)
	buf = append(buf, `,"client_id":`...)
	buf = strconv.AppendInt(buf, p.Client.ID, 10)
	buf = append(buf, `,"clientid":`...)
	buf = strconv.AppendInt(buf, p.Client.ID, 10)
	buf = append(buf, `,"create_at":`...)
	buf = appendJSONTime(buf, p.createdAt())
	buf = append(buf, `,"email":`...)
	buf = appendJSONString(buf, email)
	buf = append(buf, `,"enabled":`...)
	buf = strconv.AppendBool(buf, enabled)
	buf = append(buf, `,"id":`...)
	buf = strconv.AppendInt(buf, id, 10)
	buf = append(buf, `,"mfa_enabled":false,"permissions":[`...)
	buf = appendJSONString(buf, string(p.Role))
	buf = append(buf, `],"phone":null,"realname":`...)
	buf = appendJSONString(buf, realname)
	buf = append(buf, `,"sso":`...)
	buf = strconv.AppendBool(buf, sso)
	buf = append(buf, `,"username":`...)
	buf = appendJSONString(buf, email)
	buf = append(buf, `,"uuid":"`...)
	buf = append(buf, uid...)
	buf = append(buf, `","validated":true},"status":`...)
	buf = strconv.AppendInt(buf, int64(wallarmOK), 10)
	return append(buf, "}\n"...)
}

// userFields are what both who-am-I answers show of the person: the
// owner's, or for a shared token (no person) zeros, the token's name, and
// enabled.
func (p *Principal) userFields() (id int64, email, realname string, enabled, sso, apiAccess bool, uid string) {
	if u := p.User; u != nil {
		return u.ID, u.Email, u.Realname, u.Enabled, u.SSO, u.APIAccess, canonicalUUID(u.UUID)
	}
	if p.Token != nil {
		realname = p.Token.Realname
	}
	return 0, "", realname, true, false, false, uuid.Nil.String()
}

// canonicalUUID is s in the canonical form (as apiUUID gives it): s itself
// when it already is, which a stored UUID always is, without parsing it on
// every request; the nil UUID for what does not parse.
func canonicalUUID(s string) string {
	if len(s) == 36 {
		canonical := true
		for i := 0; i < 36 && canonical; i++ {
			c := s[i]
			switch i {
			case 8, 13, 18, 23:
				canonical = c == '-'
			default:
				canonical = ('0' <= c && c <= '9') || ('a' <= c && c <= 'f')
			}
		}
		if canonical {
			return s
		}
	}
	parsed, _ := uuid.Parse(s)
	return parsed.String()
}

// createdAt is when the person, or for a shared token the token, was created.
func (p *Principal) createdAt() (t time.Time) {
	switch {
	case p.User != nil:
		return p.User.CreatedAt
	case p.Token != nil:
		return p.Token.CreatedAt()
	}
	return t
}

// verifiedJSON is verify's "active" body for the verified token p, with
// permission_granted when granted is not nil.
func (p *Principal) verifiedJSON(granted *bool) []byte {
	perms := p.Effective.JSON()
	buf := answerBuffer(200 + len(perms))
	buf = append(buf, `{"active":true,"client_id":`...)
	buf = strconv.AppendInt(buf, p.Token.ClientID, 10)
	buf = append(buf, `,"expire_at":`...)
	buf = appendJSONTimePtr(buf, p.Token.ExpireAt)
	if granted != nil {
		buf = append(buf, `,"permission_granted":`...)
		buf = strconv.AppendBool(buf, *granted)
	}
	buf = append(buf, `,"permissions":`...)
	buf = append(buf, perms...)
	buf = append(buf, `,"shared":`...)
	buf = strconv.AppendBool(buf, p.Token.Shared)
	buf = append(buf, `,"token_id":`...)
	buf = strconv.AppendInt(buf, p.Token.ID, 10)
	buf = append(buf, `,"user_id":`...)
	if p.User != nil {
		buf = strconv.AppendInt(buf, p.User.ID, 10)
	} else {
		buf = append(buf, "null"...)
	}
	return append(buf, "}\n"...)
}

// jsonOK is a 200 answer whose JSON body is already encoded. It is every
// response object whose body it can stand for, as the strict handlers
// take them.
type jsonOK []byte

func (b jsonOK) write(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	recycle(b)
	return err
}

// Answer buffers are reused: an answer is written once, by its Visit
// method, and its buffer goes back to the pool then (a /v1/user answer is
// 2 KB, a page of tokens 50 KB: allocating and clearing them was a tenth
// of those requests' CPU).
var answerBuffers sync.Pool

const maxPooledAnswer = 256 << 10

func answerBuffer(n int) []byte {
	if p, ok := answerBuffers.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	} else if ok {
		answerBuffers.Put(p)
	}
	return make([]byte, 0, n)
}

func recycle(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledAnswer {
		return
	}
	b = b[:0]
	answerBuffers.Put(&b)
}

func (b jsonOK) VisitGetCurrentUserResponse(w http.ResponseWriter) error  { return b.write(w) }
func (b jsonOK) VisitWallarmGetUserResponse(w http.ResponseWriter) error  { return b.write(w) }
func (b jsonOK) VisitWallarmPostUserResponse(w http.ResponseWriter) error { return b.write(w) }
func (b jsonOK) VisitVerifyTokenResponse(w http.ResponseWriter) error     { return b.write(w) }
func (b jsonOK) VisitListTokensResponse(w http.ResponseWriter) error      { return b.write(w) }
