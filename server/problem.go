package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// problemTypeBase prefixes every problem type URI; the suffix names the kind.
const problemTypeBase = "https://tokend.dev/problems/"

// Problem is an error that knows its HTTP rendering (RFC 9457). Handlers
// return these; HTTPErrorHandler is the one place that writes them.
type Problem struct {
	Status int
	Kind   string // last segment of the type URI, e.g. "validation"
	Rule   string // the rule a refusal enforces ("R20"), if any
	Title  string // "" = the status text
	Detail string
	Fields []api.FieldProblem
	// Headers are added to the response (Retry-After, WWW-Authenticate).
	Headers map[string]string
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Kind, p.Detail) }

// statusOfKind is the one table from the rules' kinds of refusal to HTTP.
var statusOfKind = map[rules.Kind]int{
	rules.Invalid:   http.StatusBadRequest,
	rules.Forbidden: http.StatusForbidden,
	rules.Hidden:    http.StatusNotFound,
	rules.Conflict:  http.StatusConflict,
	rules.Throttled: http.StatusTooManyRequests,
}

// fromRefusal renders a rule's refusal: its code is the problem type, its
// rule the rule member.
func fromRefusal(r *rules.Refusal) *Problem {
	t := r.Type()
	return &Problem{Status: statusOfKind[t.Kind], Kind: string(r.Code), Rule: t.Rule, Title: t.Title, Detail: r.Detail}
}

// fieldRefusal is a 400 validation problem about one field: where and what
// kind of wrong, never the submitted value.
func fieldRefusal(field, message string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Kind: "validation", Detail: field + ": " + message,
		Fields: []api.FieldProblem{{Field: field, Message: message}}}
}

func badRequest(format string, args ...any) *Problem {
	return &Problem{Status: http.StatusBadRequest, Kind: "bad-request", Detail: fmt.Sprintf(format, args...)}
}

func notFound(what string) *Problem {
	return &Problem{Status: http.StatusNotFound, Kind: "not-found", Detail: what + " not found"}
}

func conflict(format string, args ...any) *Problem {
	return &Problem{Status: http.StatusConflict, Kind: "conflict", Detail: fmt.Sprintf(format, args...)}
}

// errUnauthorized is the single 401 every authentication failure answers, so
// that a caller cannot tell an unknown token from a disabled or expired one.
var errUnauthorized = &Problem{
	Status:  http.StatusUnauthorized,
	Kind:    "unauthorized",
	Detail:  "missing or invalid credentials",
	Headers: map[string]string{"WWW-Authenticate": `Bearer realm="tokend"`},
}

var errUnavailable = &Problem{Status: http.StatusServiceUnavailable, Kind: "unavailable",
	Detail: "the database is not reachable; try again shortly", Headers: map[string]string{"Retry-After": "1"}}

var errReadOnly = &Problem{Status: http.StatusServiceUnavailable, Kind: "read-only",
	Detail: "the database is read-only (a standby?): changes cannot be saved; try again shortly", Headers: map[string]string{"Retry-After": "1"}}

// errorFormat is how a route renders its errors: problem+json, or on the
// Wallarm surface Wallarm's {"status": N, "body": "…"} (routes.go reads it
// from the spec).
type errorFormat struct {
	wallarm bool
	// conflictStatus, when set, is what a conflict (409) answers on this
	// route, as Wallarm's "Already exists".
	conflictStatus int
}

// errorHandler renders every error as application/problem+json, or in
// Wallarm's convention on the routes formatOf says are Wallarm's. Internal
// errors are logged with the request id and answered with a generic detail.
func errorHandler(log *slog.Logger, now func() time.Time, formatOf func(echo.Context) errorFormat) echo.HTTPErrorHandler {
	// A database outage fails every request the same way: a line per 503
	// would be thousands a second saying one thing. The lines are bounded,
	// each counting the failures it stands for.
	lines := newLineBudget(now)
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := toProblem(err)
		if p.Status >= 500 {
			if ok, unlogged := lines.take(); ok {
				log.ErrorContext(c.Request().Context(), "request failed",
					"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
					"method", c.Request().Method, "path", c.Path(), "error", err, "unlogged_before", unlogged)
			}
		}
		if f := formatOf(c); f.wallarm {
			writeWallarmError(c, p, f)
			return
		}
		writeProblem(c, p)
	}
}

// errExists is Wallarm's body for a create that conflicts, which wallarm-go
// maps to ErrExistingResource (and Terraform to "import it").
const errExists = "Already exists"

// writeWallarmError renders a problem in Wallarm's convention: the HTTP
// status and {"status": N, "body": "…"}, whose sentence is the problem's
// detail — never a submitted value, never an internal error's text.
func writeWallarmError(c echo.Context, p *Problem, f errorFormat) {
	status, text := p.Status, p.Detail
	switch {
	case status == http.StatusConflict && f.conflictStatus != 0:
		status, text = f.conflictStatus, errExists
	case status >= 500:
		text = http.StatusText(status)
		if p.Kind == "unavailable" || p.Kind == "read-only" {
			text = p.Detail
		}
	case text == "":
		text = http.StatusText(status)
	}
	if len(text) > 2000 {
		text = strings.ToValidUTF8(text[:1997], "") + "..."
	}
	for k, v := range p.Headers {
		c.Response().Header().Set(k, v)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, api.WallarmError{Status: int32(status), Body: text})
}

func writeProblem(c echo.Context, p *Problem) {
	body := api.Problem{
		Type:   api.ProblemType(problemTypeBase + p.Kind),
		Title:  http.StatusText(p.Status),
		Status: int32(p.Status),
	}
	if p.Title != "" {
		body.Title = p.Title
	}
	if p.Rule != "" {
		rule := p.Rule
		body.Rule = &rule
	}
	if p.Detail != "" {
		detail := p.Detail
		if len(detail) > 2000 { // the contract's bound; a long list of names
			detail = strings.ToValidUTF8(detail[:1997], "") + "..."
		}
		body.Detail = &detail
	}
	if len(p.Fields) > 0 {
		body.Errors = &p.Fields
	}
	if id := c.Response().Header().Get(echo.HeaderXRequestID); id != "" {
		body.RequestId = &id
	}
	for k, v := range p.Headers {
		c.Response().Header().Set(k, v)
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	_ = c.JSON(p.Status, body)
}

// toProblem maps any error to its problem: our own Problems as they are,
// domain errors from the store, echo's HTTP errors (routing, binding, body
// limit, validation) and, last, a generic 500 that reveals nothing.
func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var r *rules.Refusal
	if errors.As(err, &r) {
		return fromRefusal(r)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("object")
	case errors.Is(err, store.ErrConflict):
		return conflict("the change conflicts with stored data")
	case errors.Is(err, store.ErrReadOnly):
		return errReadOnly
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return errUnavailable
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return fromHTTPError(he)
	}
	return &Problem{Status: http.StatusInternalServerError, Kind: "internal", Detail: "internal error"}
}

func fromHTTPError(he *echo.HTTPError) *Problem {
	if p, ok := he.Internal.(*Problem); ok {
		return p
	}
	if me, ok := he.Internal.(openapi3.MultiError); ok {
		return fromValidation(me)
	}
	var re *openapi3filter.RequestError
	if errors.As(he.Internal, &re) {
		return fromValidation(openapi3.MultiError{re})
	}
	p := &Problem{Status: he.Code, Kind: kindForStatus(he.Code)}
	switch he.Code {
	case http.StatusNotFound:
		p.Detail = "no such route"
	case http.StatusMethodNotAllowed:
		p.Detail = "method not allowed on this route"
	case http.StatusRequestEntityTooLarge:
		p.Detail = "request body too large"
	case http.StatusUnsupportedMediaType:
		p.Detail = "unsupported content type; send application/json"
	case http.StatusBadRequest:
		// Echo's decoding errors quote the input: say what, not where.
		p.Detail = "malformed request: the body is not the JSON this operation takes"
	case http.StatusUnauthorized:
		return errUnauthorized
	default:
		if he.Code >= 500 {
			p.Detail = "internal error"
		} else {
			p.Detail = cleanMessage(he.Message)
		}
	}
	return p
}

// fromValidation turns kin-openapi's findings into one 400 with a list of
// field problems; a failed security requirement wins and answers 401.
func fromValidation(me openapi3.MultiError) *Problem {
	p := &Problem{Status: http.StatusBadRequest, Kind: "validation", Detail: "the request does not match the API contract"}
	for _, e := range flatten(me) {
		var se *openapi3filter.SecurityRequirementsError
		if errors.As(e, &se) {
			return errUnauthorized
		}
		p.Fields = append(p.Fields, fieldProblem(e))
	}
	if len(p.Fields) == 1 {
		p.Detail = p.Fields[0].Field + ": " + p.Fields[0].Message
	}
	return p
}

func flatten(me openapi3.MultiError) []error {
	var out []error
	for _, e := range me {
		var inner openapi3.MultiError
		if errors.As(e, &inner) && len(inner) > 0 && !isRequestError(e) {
			out = append(out, flatten(inner)...)
			continue
		}
		out = append(out, e)
	}
	return out
}

func isRequestError(err error) bool {
	var re *openapi3filter.RequestError
	return errors.As(err, &re)
}

// fieldProblem names where a validation error points (a JSON pointer into
// the body, or the parameter) and says what is wrong, without echoing
// the submitted value (it may be a secret or megabytes long).
func fieldProblem(err error) api.FieldProblem {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return api.FieldProblem{Field: "", Message: "invalid request"}
	}
	field := "body"
	if re.Parameter != nil {
		field = re.Parameter.Name
	}
	msg := "invalid value"
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		if ptr := se.JSONPointer(); len(ptr) > 0 {
			field = "/" + strings.Join(ptr, "/")
		} else if re.Parameter == nil {
			field = "/"
		}
		msg = schemaMessage(se)
	} else if re.Parameter != nil {
		msg = "invalid value for this parameter"
		if re.Err == nil && strings.Contains(re.Reason, "required") {
			msg = "this parameter is required"
		}
	} else if re.RequestBody != nil && re.Err == nil && strings.Contains(re.Reason, "required") {
		msg = "a request body is required"
	}
	return api.FieldProblem{Field: field, Message: msg}
}

// schemaMessage says what is wrong by the kind of check that failed,
// in words of its own: kin-openapi's reasons quote the submitted value
// (an enum miss, a pattern miss, an unknown property's name), and a token
// pasted into the wrong field must never come back in an error. What the
// contract itself says (types, bounds, required names) may be repeated.
func schemaMessage(se *openapi3.SchemaError) string {
	s := se.Schema
	switch se.SchemaField {
	case "enum":
		return "not one of the allowed values"
	case "additionalProperties":
		return "an unknown property (the contract allows none besides its own)"
	case "pattern":
		return "does not match the required pattern"
	case "format":
		if s != nil && s.Format != "" {
			return "not a valid " + s.Format
		}
		return "not in the required format"
	case "minLength":
		return fmt.Sprintf("shorter than %d characters", s.MinLength)
	case "maxLength":
		if s.MaxLength != nil {
			return fmt.Sprintf("longer than %d characters", *s.MaxLength)
		}
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		return "out of the allowed range"
	case "minItems", "maxItems":
		return "the number of items is out of the allowed range"
	case "uniqueItems":
		return "duplicate items"
	case "minProperties", "maxProperties":
		return "the number of properties is out of the allowed range"
	case "required":
		return se.Reason // names a property of the contract, not of the request
	case "type":
		if s != nil && s.Type != nil {
			return "must be " + strings.Join(s.Type.Slice(), " or ")
		}
		return "wrong type"
	case "nullable":
		return "must not be null"
	}
	return "invalid value"
}

func cleanMessage(m any) string {
	s := fmt.Sprint(m)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func kindForStatus(code int) string {
	switch code {
	case http.StatusNotFound:
		return "not-found"
	case http.StatusMethodNotAllowed:
		return "method-not-allowed"
	case http.StatusRequestEntityTooLarge:
		return "too-large"
	case http.StatusUnsupportedMediaType:
		return "unsupported-media-type"
	case http.StatusTooManyRequests:
		return "rate-limited"
	case http.StatusBadRequest:
		return "bad-request"
	}
	if code >= 500 {
		return "internal"
	}
	return "bad-request" // every other 4xx echo answers is the client's request
}
