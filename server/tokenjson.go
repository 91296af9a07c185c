package server

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// A page of tokens is written by hand, straight from the stored rows: the
// generated models hold ten nullable fields per token, each a map, and
// encoding/json walked them by reflection; that was a third of a page's
// CPU (issue 16). The output is the api.Token schema exactly;
// TestTokenJSONMatchesTheModel compares it with encoding/json's output of
// the generated model for tokens of every shape, and the tests' response
// validator checks every answer against the spec.

// tokenPageJSON is GET /v2/api_tokens's body.
func (s *Server) tokenPageJSON(rows []store.Token, cursor *string) []byte {
	buf := answerBuffer(64 + len(rows)*480)
	buf = append(buf, `{"items":[`...)
	for i := range rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = s.appendToken(buf, &rows[i])
	}
	buf = append(buf, `],"next_cursor":`...)
	if cursor == nil {
		buf = append(buf, "null"...)
	} else {
		buf = appendJSONString(buf, *cursor)
	}
	return append(buf, "}\n"...)
}

// appendToken is apiToken's JSON, members in the order encoding/json
// writes the generated struct's fields.
func (s *Server) appendToken(buf []byte, t *store.Token) []byte {
	buf = append(buf, `{"backward_compatible":`...)
	buf = strconv.AppendBool(buf, t.BackwardCompatible)
	buf = append(buf, `,"client_id":`...)
	buf = strconv.AppendInt(buf, t.ClientID, 10)
	buf = append(buf, `,"created_at":`...)
	buf = appendJSONTime(buf, t.CreatedAt)
	buf = append(buf, `,"created_by":`...)
	buf = appendJSONIntPtr(buf, t.CreatedBy)
	buf = append(buf, `,"disabled_at":`...)
	buf = appendJSONTimePtr(buf, t.DisabledAt)
	buf = append(buf, `,"disabled_reason":`...)
	if !t.Enabled && t.DisabledReason != "" {
		buf = appendJSONString(buf, string(t.DisabledReason))
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"enabled":`...)
	buf = strconv.AppendBool(buf, t.Enabled)
	buf = append(buf, `,"expire_at":`...)
	buf = appendJSONTimePtr(buf, t.ExpireAt)
	buf = append(buf, `,"hint":`...)
	buf = appendJSONString(buf, t.Hint)
	buf = append(buf, `,"id":`...)
	buf = strconv.AppendInt(buf, t.ID, 10)
	buf = append(buf, `,"last_used_at":`...)
	buf = appendJSONTimePtr(buf, t.LastUsedAt)
	buf = append(buf, `,"last_used_ip":`...)
	if t.LastUsedIP == nil {
		buf = append(buf, "null"...)
	} else {
		buf = appendJSONString(buf, *t.LastUsedIP)
	}
	buf = append(buf, `,"permissions":[`...)
	if !t.BackwardCompatible { // R15: a backward-compatible token shows none
		for i, p := range t.Permissions {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, p)
		}
	}
	buf = append(buf, `],"purge_at":`...)
	if !t.Enabled && t.DisabledAt != nil {
		buf = appendJSONTime(buf, rules.PurgeAt(*t.DisabledAt, s.cfg.DisabledRetention))
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"rate_limit":`...)
	if r := t.RateLimit; r.Set() {
		buf = append(buf, `{"requests":`...)
		buf = strconv.AppendInt(buf, int64(int32(*r.Requests)), 10)
		buf = append(buf, `,"window_seconds":`...)
		buf = strconv.AppendInt(buf, int64(int32(*r.Window)), 10)
		buf = append(buf, '}')
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"realname":`...)
	buf = appendJSONString(buf, t.Realname)
	buf = append(buf, `,"renewed_at":`...)
	buf = appendJSONTimePtr(buf, t.RenewedAt)
	buf = append(buf, `,"shared":`...)
	buf = strconv.AppendBool(buf, t.Shared)
	buf = append(buf, `,"source_role":`...)
	buf = appendJSONString(buf, t.SourceRole)
	buf = append(buf, `,"updated_at":`...)
	buf = appendJSONTime(buf, t.UpdatedAt)
	buf = append(buf, `,"user_id":`...)
	buf = appendJSONIntPtr(buf, t.UserID)
	return append(buf, '}')
}

func appendJSONIntPtr(buf []byte, p *int64) []byte {
	if p == nil {
		return append(buf, "null"...)
	}
	return strconv.AppendInt(buf, *p, 10)
}

// appendJSONTime writes t in UTC as encoding/json does (RFC 3339, nanoseconds).
func appendJSONTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.UTC().AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

func appendJSONTimePtr(buf []byte, p *time.Time) []byte {
	if p == nil {
		return append(buf, "null"...)
	}
	return appendJSONTime(buf, *p)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string the way encoding/json does:
// ", \ and control characters escaped, <, > and & as \u003c-style escapes
// (safe inside HTML), invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
