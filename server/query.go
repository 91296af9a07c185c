package server

import (
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/gen/api"
)

// refuseUnknownQuery answers 400 to a query parameter the operation does
// not declare in the spec, naming the parameter (never its value). A
// client that believes it filtered (GET /v2/clients?filter[id]=1) must not
// get every object back and take the first. Routes outside the spec pass.
func (s *Server) refuseUnknownQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		method, route := c.Request().Method, c.Path()
		if c.Request().URL.RawQuery == "" || !s.routes.inSpec(method, route) {
			return next(c)
		}
		declared := s.routes.declaredQuery(method, route)
		var unknown []string
		for name := range c.QueryParams() {
			if !declared[name] {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) == 0 {
			return next(c)
		}
		sort.Strings(unknown)
		p := &Problem{Status: http.StatusBadRequest, Kind: "validation", Detail: "unknown query parameter: " + paramName(unknown[0])}
		for _, n := range unknown {
			p.Fields = append(p.Fields, api.FieldProblem{Field: paramName(n), Message: "unknown query parameter"})
		}
		if len(unknown) > 1 {
			p.Detail = "unknown query parameters: " + paramName(unknown[0]) + " and others"
		}
		return p
	}
}

// paramName is a parameter's name as an error may show it: bounded and
// valid UTF-8 (it is the client's own input, but it is not a value).
func paramName(n string) string {
	if len(n) > 64 {
		n = n[:64] + "…"
	}
	return strings.ToValidUTF8(n, "?")
}
