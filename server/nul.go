package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// refuseNUL answers 400 to a body whose JSON strings, or to a query
// parameter that, contain the NUL character. PostgreSQL text cannot hold it
// (the insert or the search would fail as an internal error) while SQLite
// would store it; no name, e-mail, URL or filter needs it, so both backends
// refuse it the same way, before any handler runs.
func refuseNUL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		for _, values := range req.URL.Query() {
			for _, v := range values {
				if strings.IndexByte(v, 0) >= 0 { // PostgreSQL would fail on it as on a body's
					return badRequest(`query parameters must not contain the NUL character (%%00)`)
				}
				if !utf8.ValidString(v) { // PostgreSQL refuses invalid UTF-8 in a text parameter
					return badRequest(`query parameters must be UTF-8 text`)
				}
			}
		}
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		body, err := requestBody(c)
		if err != nil {
			return err
		}
		if hasNUL(body) {
			return badRequest(`strings must not contain the NUL character (\u0000)`)
		}
		if err := checkJSONText(req.Header.Get(echo.HeaderContentType), body); err != nil {
			return err
		}
		return next(c)
	}
}

// bodyKey holds, in the echo context, the request body as read once.
const bodyKey = "tokend.body"

// requestBody is the request's body, read once (bounded by the body limit
// before it) and put back for whatever reads the stream next; later
// callers get the same bytes.
func requestBody(c echo.Context) ([]byte, error) {
	if b, ok := c.Get(bodyKey).([]byte); ok {
		return b, nil
	}
	req := c.Request()
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	c.Set(bodyKey, body)
	return body, nil
}

// checkJSONText refuses, in a JSON body, what the decoders would otherwise
// let through silently: invalid UTF-8 (encoding/json stores U+FFFD in its
// place, so what is read back is not what was sent) and data after the
// first JSON value (`{…}{…}`: the validator and the handler read only the
// first). Other malformed JSON is left to the request validator.
func checkJSONText(contentType string, body []byte) error {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != echo.MIMEApplicationJSON {
		return nil
	}
	if !utf8.Valid(body) {
		return badRequest("the request body is not valid UTF-8")
	}
	if json.Valid(body) { // exactly one JSON value: the common case, one scan without allocating
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	if dec.Decode(&first) != nil {
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the request body must hold a single JSON value")
	}
	return nil
}

// hasNUL reports whether a JSON text holds a NUL character: a raw 0 byte or
// a \u0000 escape (not an escaped backslash followed by "u0000").
func hasNUL(body []byte) bool {
	if bytes.IndexByte(body, 0) >= 0 {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte(`u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		backslashes := 0
		for k := at - 1; k >= 0 && body[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 1 {
			return true
		}
		i = at + 1
	}
}
