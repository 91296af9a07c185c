package server

import (
	"encoding/json"
	"mime"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
)

// A precheck decides, for the operations where it can, that a request
// certainly passes the contract, so that kin-openapi's validator (a route
// lookup, a JSON decode and a schema walk: a quarter of a cached verify)
// need not run. It only ever says "certainly valid"; anything else, and
// every operation it was not compiled for, goes to the validator, which
// gives the answer and the error. TestPrecheckNeverAcceptsWhatTheValidatorRefuses
// holds it to that against kin-openapi on generated requests.
//
// Two kinds are compiled from the spec at start:
//   - nothing to validate: no parameters and no request body, as GET
//     /v2/user and /v1/user (with security stripped, kin-openapi checks
//     nothing there: refuseUnknownQuery already refuses undeclared query
//     parameters);
//   - a flat JSON object body: no parameters, a required application/json
//     body whose schema is an object with additionalProperties false and
//     plain string properties bounded by minLength/maxLength, as POST
//     /v2/api_tokens/verify.
type precheck struct {
	nothing bool
	body    *flatObject
}

type flatObject struct {
	names    []string // the properties, at most 64
	bounds   []stringBounds
	required uint64 // a bit per required property
}

type stringBounds struct {
	min int64
	max *uint64
}

// compilePrecheck returns the precheck for an operation, or nil when the
// validator must always run.
func compilePrecheck(item *openapi3.PathItem, op *openapi3.Operation) *precheck {
	if len(item.Parameters) > 0 || len(op.Parameters) > 0 {
		return nil
	}
	if op.RequestBody == nil {
		return &precheck{nothing: true}
	}
	rb := op.RequestBody.Value
	if rb == nil || !rb.Required || len(rb.Content) != 1 || rb.Content["application/json"] == nil {
		return nil
	}
	media := rb.Content["application/json"]
	if media.Schema == nil || media.Schema.Value == nil {
		return nil
	}
	if f := compileFlatObject(media.Schema.Value); f != nil {
		return &precheck{body: f}
	}
	return nil
}

func compileFlatObject(s *openapi3.Schema) *flatObject {
	if !s.Type.Is(openapi3.TypeObject) || s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has ||
		s.AdditionalProperties.Schema != nil || s.Nullable || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil ||
		s.MinProps != 0 || s.MaxProps != nil || len(s.Enum) > 0 || s.Discriminator != nil {
		return nil
	}
	if len(s.Properties) > 64 {
		return nil
	}
	f := &flatObject{}
	for name, ref := range s.Properties {
		p := ref.Value
		if p == nil || !p.Type.Is(openapi3.TypeString) || p.Nullable || p.Pattern != "" || p.Format != "" || len(p.Enum) > 0 ||
			len(p.AllOf)+len(p.AnyOf)+len(p.OneOf) > 0 || p.Not != nil || p.ReadOnly || p.WriteOnly {
			return nil
		}
		f.names = append(f.names, name)
		f.bounds = append(f.bounds, stringBounds{min: int64(p.MinLength), max: p.MaxLength})
	}
	for _, r := range s.Required {
		k := f.index([]byte(r))
		if k < 0 {
			return nil
		}
		f.required |= 1 << k
	}
	return f
}

// certainlyValid reports whether the request passes the contract for sure.
// It reads the body once (requestBody) and leaves it for the handler.
func (p *precheck) certainlyValid(c echo.Context) bool {
	if p == nil {
		return false
	}
	if p.nothing {
		return true
	}
	req := c.Request()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON || len(params) > 1 || (len(params) == 1 && params["charset"] == "") {
		return false
	}
	body, err := requestBody(c)
	if err != nil || body == nil {
		return false
	}
	return p.body.accepts(body)
}

// accepts checks body against the flat object schema without decoding
// it into values: a valid JSON text (json.Valid, which allocates nothing)
// whose top level is one object of distinct, escape-free member names,
// each a declared property whose value is an escape-free string within its
// bounds. Escapes and duplicates are rare enough to leave to the validator,
// and leaving them out keeps this exactly kin-openapi's reading: its
// decoder would see the same names and strings.
func (f *flatObject) accepts(body []byte) bool {
	if !json.Valid(body) {
		return false
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	var seen uint64
	if body[i] != '}' {
		for {
			name, next, ok := plainString(body, i)
			if !ok {
				return false
			}
			i = skipSpace(body, next)
			i = skipSpace(body, i+1) // the colon
			value, next, ok := plainString(body, i)
			if !ok {
				return false
			}
			k := f.index(name)
			if k < 0 || seen&(1<<k) != 0 {
				return false
			}
			seen |= 1 << k
			b := f.bounds[k]
			n := int64(utf8.RuneCount(value))
			if n < b.min || (b.max != nil && uint64(n) > *b.max) {
				return false
			}
			i = skipSpace(body, next)
			if body[i] == '}' {
				break
			}
			i = skipSpace(body, i+1) // the comma
		}
	}
	if skipSpace(body, i+1) != len(body) {
		return false
	}
	return seen&f.required == f.required
}

// index is the position of the property called name, or -1.
func (f *flatObject) index(name []byte) int {
	for k, n := range f.names {
		if n == string(name) {
			return k
		}
	}
	return -1
}

// plainString reads the JSON string at body[i] when it has no escapes: its
// content and the index after its closing quote.
func plainString(body []byte, i int) (content []byte, next int, ok bool) {
	if i >= len(body) || body[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			return nil, i, false
		case '"':
			return body[i+1 : j], j + 1, true
		}
	}
	return nil, i, false
}

func skipSpace(body []byte, i int) int {
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	return i
}
