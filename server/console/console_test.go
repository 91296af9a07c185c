package console

import (
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/gen/api"
)

const testPrefix = "/console"

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sources are the files we wrote, as embedded.
func sources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		out[strings.TrimPrefix(p, "assets/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	// Blocked by the page's CSP: inline scripts, event handler attributes,
	// <style> elements and style attributes.
	inlineScript = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=`)
	inlineStyle  = regexp.MustCompile(`(?i)<style\b|\sstyle\s*=`)
	assetRef     = regexp.MustCompile(`(?:href|src)="(/console/[^"]+)"`)
)

func TestPage(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix)
	for _, target := range []string{testPrefix, testPrefix + "/"} {
		res := get(t, h, http.MethodGet, target)
		page := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, res.StatusCode)
		}
		for k, want := range map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'",
			"Cache-Control":           "no-cache",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", target, k, got, want)
			}
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", target)
		}
		if inlineScript.MatchString(page) || inlineStyle.MatchString(page) {
			t.Errorf("GET %s: the page has inline script or style", target)
		}
		for _, name := range []string{"app.css", "app.js", "favicon.svg"} {
			want := `"` + testPrefix + "/" + name + "?v=" + loadAssets()[name].token + `"`
			if !strings.Contains(page, want) {
				t.Errorf("GET %s: the page does not reference %s", target, want)
			}
		}
		if !strings.Contains(page, `<script type="module"`) {
			t.Errorf("GET %s: the entry script is not a module", target)
		}
	}
	res := get(t, h, http.MethodGet, testPrefix+"/", "If-None-Match", Handler(testPrefix).(*handler).pageETag)
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("GET with the page's ETag: status %d, want 304", res.StatusCode)
	}
}

func TestPageAssets(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix)
	page := body(t, get(t, h, http.MethodGet, testPrefix))
	refs := assetRef.FindAllStringSubmatch(page, -1)
	if len(refs) != 3 {
		t.Fatalf("the page references %d assets, want 3 (css, js, icon): %q", len(refs), refs)
	}
	for _, m := range refs {
		res := get(t, h, http.MethodGet, m[1])
		if res.StatusCode != http.StatusOK || body(t, res) == "" {
			t.Errorf("GET %s: status %d", m[1], res.StatusCode)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", m[1], cc)
		}
		if res.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: the CSP is meant for the page only", m[1])
		}
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix)
	want := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		".svg": "image/svg+xml",
	}
	for name, a := range loadAssets() {
		ext := name[strings.LastIndex(name, "."):]
		target := testPrefix + "/" + name
		res := get(t, h, http.MethodGet, target)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", target, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != want[ext] {
			t.Errorf("GET %s: Content-Type %q, want %q", target, got, want[ext])
		}
		// Modules are imported without a version: they revalidate.
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", target, cc)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", target)
		}
		etag := res.Header.Get("ETag")
		if etag != `"`+a.token+`"` {
			t.Errorf("GET %s: ETag %q", target, etag)
		}
		if res := get(t, h, http.MethodGet, target, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", target, res.StatusCode)
		}
		if res := get(t, h, http.MethodGet, target+"?v=stale"); res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s?v=stale: Cache-Control %q", target, res.Header.Get("Cache-Control"))
		}
	}
}

// TestModuleGraph: every relative import of every module is an embedded
// asset, so the console loads completely from the binary.
func TestModuleGraph(t *testing.T) {
	t.Parallel()
	imp := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"`)
	assets := loadAssets()
	seen := 0
	for name, text := range sources(t) {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range imp.FindAllStringSubmatch(text, -1) {
			seen++
			spec := m[1]
			if !strings.HasPrefix(spec, "./") {
				t.Errorf("%s imports %q: only relative imports of embedded modules", name, spec)
				continue
			}
			if assets[strings.TrimPrefix(spec, "./")] == nil {
				t.Errorf("%s imports %q, which is not embedded", name, spec)
			}
		}
	}
	if seen < 5 {
		t.Errorf("found %d imports; the pattern no longer matches the sources", seen)
	}
}

// TestNoExternalURLs: nothing we ship sends the browser to another host.
func TestNoExternalURLs(t *testing.T) {
	t.Parallel()
	abs := regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>)]*`)
	for name, text := range sources(t) {
		for _, u := range abs.FindAllString(text, -1) {
			if u != "http://www.w3.org/2000/svg" { // an XML namespace, never fetched
				t.Errorf("%s has the absolute URL %s", name, u)
			}
		}
		for _, bad := range []string{`"//`, `'//`, "`//", "url(//", "@import"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s has %q", name, bad)
			}
		}
	}
}

// TestNoUnsafeDOM: the scripts build elements; they never parse strings as
// HTML or code (a token name from the API must stay text), and never set
// inline styles, which the CSP blocks.
func TestNoUnsafeDOM(t *testing.T) {
	t.Parallel()
	forbidden := []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", ".style.", `"style"`, "localStorage", "document.cookie"}
	for name, text := range sources(t) {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, f := range forbidden {
			if strings.Contains(text, f) {
				t.Errorf("%s uses %s", name, f)
			}
		}
	}
	if html := sources(t)["index.html"]; inlineScript.MatchString(html) || inlineStyle.MatchString(html) {
		t.Error("index.html has inline script or style")
	}
}

// TestOnlyPublicAPI: every call the console makes is an operation of
// openapi.yaml: the console has no private endpoints.
func TestOnlyPublicAPI(t *testing.T) {
	t.Parallel()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	callRe := regexp.MustCompile("call\\(\"(GET|POST|PUT|DELETE)\", [\"`]([^\"`]+)[\"`]")
	param := regexp.MustCompile(`\$\{[^}]+\}`)
	calls := callRe.FindAllStringSubmatch(sources(t)["api.js"], -1)
	if len(calls) < 15 {
		t.Fatalf("found %d API calls in api.js; the pattern no longer matches", len(calls))
	}
	for _, c := range calls {
		method, path := c[1], param.ReplaceAllString(c[2], "{id}")
		item := spec.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("api.js calls %s %s, which openapi.yaml does not define", method, path)
		}
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix)
	for _, target := range []string{
		testPrefix + "/nope.js",
		testPrefix + "/index.html", // the template, served only as the page
		testPrefix + "/assets/app.js",
		testPrefix + "/../app.js",
		testPrefix + "/tokens",
		testPrefix + "x",
		testPrefix + "x/app.js",
		"/",
		"/app.js",
	} {
		if res := get(t, h, http.MethodGet, target); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, res.StatusCode)
		}
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix)
	res := get(t, h, http.MethodHead, testPrefix+"/app.js")
	if res.StatusCode != http.StatusOK || body(t, res) != "" {
		t.Errorf("HEAD: status %d", res.StatusCode)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		res := get(t, h, m, testPrefix+"/")
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
}

func TestPrefixNormalization(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, page, asset string }{
		{"console/", "/console", "/console/app.js"},
		{"/admin/console", "/admin/console/", "/admin/console/app.js"},
		{"/", "/", "/app.js"},
		{"", "/", "/app.js"},
	} {
		h := Handler(tc.prefix)
		res := get(t, h, http.MethodGet, tc.page)
		page := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Errorf("prefix %q: GET %s: status %d", tc.prefix, tc.page, res.StatusCode)
		}
		if !strings.Contains(page, `src="`+tc.asset+`?v=`) {
			t.Errorf("prefix %q: the page does not reference %s", tc.prefix, tc.asset)
		}
		if res := get(t, h, http.MethodGet, tc.asset); res.StatusCode != http.StatusOK {
			t.Errorf("prefix %q: GET %s: status %d", tc.prefix, tc.asset, res.StatusCode)
		}
	}
}

// TestEveryAssetIsUsed: nothing is embedded that the console does not load.
func TestEveryAssetIsUsed(t *testing.T) {
	t.Parallel()
	var all strings.Builder
	all.WriteString(body(t, get(t, Handler(testPrefix), http.MethodGet, testPrefix)))
	for _, text := range sources(t) {
		all.WriteString(text)
	}
	for name := range loadAssets() {
		if !strings.Contains(all.String(), name) {
			t.Errorf("assets/%s is embedded but nothing references it", name)
		}
	}
	t.Logf("embedded: %v", slices.Sorted(maps.Keys(loadAssets())))
}

// TestRulesPage: every rule refusal has an entry, reached by its code, with
// the rule, the status and the "when" of docs/RULES.md; the console links
// refusals there.
func TestRulesPage(t *testing.T) {
	t.Parallel()
	res := get(t, Handler(testPrefix), http.MethodGet, testPrefix+"/rules")
	page := body(t, res)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") != ContentSecurityPolicy {
		t.Fatalf("GET /console/rules: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	if inlineScript.MatchString(page) || inlineStyle.MatchString(page) {
		t.Error("the rules page has inline script or style")
	}
	for _, d := range refusalDocs() {
		if d.Status == "" || d.When == "" || d.Title == "" {
			t.Errorf("refusal %s: no row in docs/RULES.md's table (%+v)", d.Code, d)
		}
		if !strings.Contains(page, `id="`+d.Code+`"`) {
			t.Errorf("the rules page has no entry #%s", d.Code)
		}
	}
	for _, want := range []string{
		"The token would exceed your own permissions</span> <span class=\"badge badge-neutral\">R2</span> <span class=\"badge badge-neutral\">HTTP 403</span>",
		"the token would hold a permission the caller does not hold.",
		"<code>expire_at</code> is not in the future",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the rules page lacks %q", want)
		}
	}
	for _, ref := range assetRef.FindAllStringSubmatch(page, -1) {
		if res := get(t, Handler(testPrefix), http.MethodGet, ref[1]); res.StatusCode != http.StatusOK {
			t.Errorf("the rules page links %s: %d", ref[1], res.StatusCode)
		}
	}
}
