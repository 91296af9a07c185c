package server

import (
	"bytes"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// refuseNUL answers 400 to a body whose JSON strings contain the NUL
// character. PostgreSQL text cannot hold it (the insert would fail as an
// internal error) while SQLite would store it; no name, e-mail or URL needs
// it, so both backends refuse it the same way, before any handler runs.
func refuseNUL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		body, err := io.ReadAll(req.Body) // bounded by the body limit before it
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		if hasNUL(body) {
			return badRequest(`strings must not contain the NUL character (\u0000)`)
		}
		return next(c)
	}
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
