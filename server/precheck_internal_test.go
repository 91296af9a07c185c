package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	"pgregory.net/rapid"
)

// The precheck only ever vouches for what kin-openapi's validator accepts:
// for every operation it was compiled for, on generated requests (bodies
// near the schema: the declared names and others, strings at and past
// their bounds in multi-byte characters, other JSON types, duplicates,
// trailing data, other content types), "certainly valid" implies the
// validator passes it. And it does vouch for ordinary valid requests, or
// it would be dead weight.
func TestPrecheckNeverAcceptsWhatTheValidatorRefuses(t *testing.T) {
	spec, validated, _, err := embeddedSpec()
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(validated)
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true}
	type compiled struct {
		method, path string
		pre          *precheck
	}
	var ops []compiled
	bodies := 0
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if pre := compilePrecheck(item, op); pre != nil {
				ops = append(ops, compiled{method, path, pre})
				if pre.body != nil {
					bodies++
				}
			}
		}
	}
	if len(ops) == 0 || bodies == 0 {
		t.Fatalf("%d operations precheck-compiled, %d with a body: the hot routes should be among them", len(ops), bodies)
	}
	validate := func(r *http.Request) error {
		route, params, err := router.FindRoute(r)
		if err != nil {
			return err
		}
		return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route, Options: opts})
	}
	var tried, vouched int
	// rapid's default of 100 cases is too few to reach the bounds of
	// every schema; each round draws a new seed.
	for range 40 {
		rapid.Check(t, func(t *rapid.T) {
			tried++
			op := rapid.SampledFrom(ops).Draw(t, "operation")
			ct := rapid.SampledFrom([]string{"application/json", "application/json; charset=utf-8", "application/json; charset=latin1",
				"application/json; foo=bar", "text/plain", "application/jsonx", ""}).Draw(t, "content type")
			body := drawBody(t, op.pre.body)
			r := httptest.NewRequest(op.method, "http://tokend.test"+op.path, strings.NewReader(body))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			e := echo.New()
			c := e.NewContext(r, httptest.NewRecorder())
			if !op.pre.certainlyValid(c) {
				return
			}
			vouched++
			// The handler still gets the whole body.
			if got := readAll(t, c.Request()); got != body {
				t.Fatalf("the precheck did not put the body back: %q, want %q", got, body)
			}
			r2 := httptest.NewRequest(op.method, "http://tokend.test"+op.path, strings.NewReader(body))
			if ct != "" {
				r2.Header.Set("Content-Type", ct)
			}
			if err := validate(r2); err != nil {
				t.Fatalf("%s %s with %q (%s): the precheck vouched, the validator refused: %v", op.method, op.path, body, ct, err)
			}
		})
	}
	if vouched*20 < tried {
		t.Fatalf("the precheck vouched for %d of %d generated requests: the generator should reach valid ones more often", vouched, tried)
	}
	t.Logf("the precheck vouched for %d of %d generated requests, every one accepted by the validator", vouched, tried)
	for _, op := range ops {
		if op.pre.body == nil {
			continue
		}
		valid := map[string]string{}
		for k, name := range op.pre.body.names {
			if op.pre.body.required&(1<<k) != 0 {
				valid[name] = strings.Repeat("x", max(1, int(op.pre.body.bounds[k].min)))
			}
		}
		b, _ := json.Marshal(valid)
		r := httptest.NewRequest(op.method, "http://tokend.test"+op.path, strings.NewReader(string(b)))
		r.Header.Set("Content-Type", "application/json")
		if !op.pre.certainlyValid(echo.New().NewContext(r, httptest.NewRecorder())) {
			t.Errorf("%s %s: the precheck does not vouch for %s", op.method, op.path, b)
		}
	}
}

func readAll(t *rapid.T, r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// drawBody is a JSON text near the flat object schema f (or anything, for
// operations without a body).
func drawBody(t *rapid.T, f *flatObject) string {
	if f == nil || rapid.IntRange(0, 9).Draw(t, "raw") == 0 {
		return rapid.SampledFrom([]string{"", "{}", "null", "[]", `"x"`, "{", `{"a":1}`, `{} {}`, `{}x`, "  {}  ", "\ufeff{}", "{\"token\":\"\xff\xfe\"}", `{"token":"a","token":"b"}`, `{"token":"a","token":1}`, `{"token":1,"token":"a"}`}).Draw(t, "raw body")
	}
	var names []string
	for _, n := range f.names {
		names = append(names, n, strings.ToUpper(n), n+" ", `\u00`+strings.ToLower(fmt.Sprintf("%x", n[0]))+n[1:])
	}
	names = append(names, "extra", "")
	var parts []string
	for i, n := 0, rapid.IntRange(0, 4).Draw(t, "members"); i < n; i++ {
		name := rapid.SampledFrom(names).Draw(t, "name")
		var value string
		switch rapid.IntRange(0, 5).Draw(t, "kind") {
		case 0, 1, 2:
			bound := 8
			if k := f.index([]byte(name)); k >= 0 && f.bounds[k].max != nil {
				bound = int(*f.bounds[k].max)
			}
			length := rapid.SampledFrom([]int{0, 1, bound - 1, bound, bound + 1}).Draw(t, "length")
			if length < 0 {
				length = 0
			}
			r := rapid.SampledFrom([]string{"a", "é", "😀", "\\u0000", "\\\""}).Draw(t, "rune")
			value = `"` + strings.Repeat(r, length) + `"`
		case 3:
			value = rapid.SampledFrom([]string{"null", "true", "1", "1.5", "-0", "1e400"}).Draw(t, "scalar")
		case 4:
			value = rapid.SampledFrom([]string{"[]", `["x"]`, "{}", `{"a":"b"}`}).Draw(t, "compound")
		default:
			value = `"x"`
		}
		parts = append(parts, `"`+name+`":`+value)
	}
	return "{" + strings.Join(parts, ",") + "}" + rapid.SampledFrom([]string{"", " ", "\n", "x", "{}"}).Draw(t, "after")
}
