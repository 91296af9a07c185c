package server

import (
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/perm"
)

// routeTable is what the spec says about each operation, indexed the way
// echo names a matched route ("GET /v2/api_tokens/:id"), so that middleware
// can ask it without a second router.
type routeTable struct {
	byRoute map[string]routeInfo
	// permissionByOperation is keyed by the Go operation name the strict
	// handler passes to its middleware ("CreateToken").
	permissionByOperation map[string]perm.Permission
	// oneTimeSession names the operations a one-time-password session may
	// call (x-tokend-one-time-session: true, R22).
	oneTimeSession map[string]bool
}

type routeInfo struct {
	operationID string
	secured     bool
	// query names the query parameters the operation declares; any other
	// is refused (refuseUnknownQuery).
	query map[string]bool
	// errors is how the operation's errors are rendered.
	errors errorFormat
	// precheck, when not nil, can tell a request certainly valid without
	// the validator.
	precheck *precheck
}

// permissionExtension names, in openapi.yaml, the permission an operation
// needs; absent means any authenticated caller.
const permissionExtension = "x-tokend-permission"

// oneTimeSessionExtension marks, in openapi.yaml, an operation a session
// opened with a one-time password may call (R22).
const oneTimeSessionExtension = "x-tokend-one-time-session"

// errorFormatExtension marks, in openapi.yaml, an operation of the Wallarm
// surface whose errors are Wallarm's {"status": N, "body": "…"}
// (x-tokend-error-format: wallarm); conflictStatusExtension is the status
// a conflict (409) answers with there, as "Already exists"
// (x-tokend-wallarm-conflict-status: 400 for companies and nodes, 409 for
// users: what wallarm-go maps to ErrExistingResource).
const (
	errorFormatExtension    = "x-tokend-error-format"
	conflictStatusExtension = "x-tokend-wallarm-conflict-status"
)

func newRouteTable(spec *openapi3.T) (*routeTable, error) {
	t := &routeTable{byRoute: map[string]routeInfo{}, permissionByOperation: map[string]perm.Permission{}, oneTimeSession: map[string]bool{}}
	catalog := map[perm.Permission]bool{}
	for _, p := range perm.Catalog() {
		catalog[p] = true
	}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			secured := len(spec.Security) > 0
			if op.Security != nil {
				secured = len(*op.Security) > 0
			}
			info := routeInfo{operationID: op.OperationID, secured: secured, query: map[string]bool{}, precheck: compilePrecheck(item, op)}
			for _, params := range []openapi3.Parameters{item.Parameters, op.Parameters} {
				for _, ref := range params {
					if ref.Value != nil && ref.Value.In == openapi3.ParameterInQuery {
						info.query[ref.Value.Name] = true
					}
				}
			}
			if f, ok := op.Extensions[errorFormatExtension].(string); ok {
				if f != "wallarm" {
					return nil, fmt.Errorf("%s %s: %s %q is not a format (want wallarm)", method, path, errorFormatExtension, f)
				}
				info.errors.wallarm = true
			}
			if n, ok := op.Extensions[conflictStatusExtension].(float64); ok {
				info.errors.conflictStatus = int(n)
			}
			t.byRoute[method+" "+echoPath(path)] = info
			if v, ok := op.Extensions[oneTimeSessionExtension].(bool); ok && v {
				t.oneTimeSession[goName(op.OperationID)] = true
			}
			raw, ok := op.Extensions[permissionExtension]
			if !ok {
				continue
			}
			name, _ := raw.(string)
			if !catalog[perm.Permission(name)] {
				return nil, fmt.Errorf("%s %s: %s %q is not in the permission catalog", method, path, permissionExtension, raw)
			}
			t.permissionByOperation[goName(op.OperationID)] = perm.Permission(name)
		}
	}
	return t, nil
}

// secured reports whether the route needs a credential. Routes outside the
// spec (docs, assets) are public.
func (t *routeTable) secured(method, echoRoute string) bool {
	return t.byRoute[method+" "+echoRoute].secured
}

// operation is the operation id of the matched route ("" outside the spec).
func (t *routeTable) operation(method, echoRoute string) string {
	return t.byRoute[method+" "+echoRoute].operationID
}

// needsValidation reports whether the validator must see the request: an
// API operation whose precheck cannot vouch for it.
func (t *routeTable) needsValidation(c echo.Context) bool {
	info, ok := t.byRoute[c.Request().Method+" "+c.Path()]
	return ok && !info.precheck.certainlyValid(c)
}

// inSpec reports whether the matched route is an API operation.
func (t *routeTable) inSpec(method, echoRoute string) bool {
	_, ok := t.byRoute[method+" "+echoRoute]
	return ok
}

// errorFormat is how the matched route renders its errors (problem+json
// outside the Wallarm surface and outside the spec).
func (t *routeTable) errorFormat(c echo.Context) errorFormat {
	return t.byRoute[c.Request().Method+" "+c.Path()].errors
}

// declaredQuery is the set of query parameters the matched route declares.
func (t *routeTable) declaredQuery(method, echoRoute string) map[string]bool {
	return t.byRoute[method+" "+echoRoute].query
}

// echoPath turns "/v2/api_tokens/{id}" into echo's "/v2/api_tokens/:id".
func echoPath(p string) string {
	p = strings.ReplaceAll(p, "{", ":")
	return strings.ReplaceAll(p, "}", "")
}

// goName is the operation name oapi-codegen gives a strict handler.
func goName(operationID string) string {
	if operationID == "" {
		return ""
	}
	return strings.ToUpper(operationID[:1]) + operationID[1:]
}
