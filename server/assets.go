package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// assets serves the embedded console and Swagger UI files, and answers
// their errors (a missing file, a bad path) as the same problem+json as
// every other route instead of the file server's plain text.
func assets(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		w := &assetWriter{ResponseWriter: c.Response().Writer}
		h.ServeHTTP(w, c.Request())
		if w.failed != 0 {
			return &echo.HTTPError{Code: w.failed}
		}
		return nil
	}
}

// assetWriter passes a file through, but swallows an error answer (status
// and body) so that the error handler can write the problem instead.
type assetWriter struct {
	http.ResponseWriter
	failed int
}

func (w *assetWriter) WriteHeader(code int) {
	if code >= 400 {
		w.failed = code
		w.Header().Del("Content-Type")
		w.Header().Del("X-Content-Type-Options")
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *assetWriter) Write(b []byte) (int, error) {
	if w.failed != 0 {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *assetWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
