package swaggerui

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

const (
	testPrefix  = "/api-docs"
	testSpecURL = "/api/v1/api-docs"
)

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

// inlineScript matches a <script> element with a body, or an event handler
// attribute: both are blocked by the page's Content-Security-Policy.
var inlineScript = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=`)

var assetRef = regexp.MustCompile(`(?:href|src)="([^"]+)"`)

// pageAssets returns the URLs of the page's stylesheet, scripts and icons.
func pageAssets(t *testing.T, page string) []string {
	t.Helper()
	var urls []string
	for _, m := range assetRef.FindAllStringSubmatch(page, -1) {
		if m[1] == testSpecURL { // the <noscript> link to the spec
			continue
		}
		urls = append(urls, strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	return urls
}

func TestPage(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix, testSpecURL)
	for _, target := range []string{testPrefix, testPrefix + "/"} {
		res := get(t, h, http.MethodGet, target)
		page := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
		if csp := res.Header.Get("Content-Security-Policy"); csp != contentSecurityPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", target, csp)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", target, got)
		}
		if !strings.Contains(page, `data-spec-url="`+testSpecURL+`"`) {
			t.Errorf("GET %s: page does not carry the spec URL", target)
		}
		if !strings.Contains(page, "<title>tokend API</title>") {
			t.Errorf("GET %s: title missing", target)
		}
		if inlineScript.MatchString(page) {
			t.Errorf("GET %s: page has inline script", target)
		}
		cat := loadCatalogue()
		for _, name := range []string{"swagger-ui.css", "swagger-ui-bundle.js", "init.js", "favicon-32x32.png", "favicon-16x16.png"} {
			want := testPrefix + "/" + name + "?v=" + cat.assets[name].token
			if !strings.Contains(page, `"`+want+`"`) {
				t.Errorf("GET %s: page does not reference %s", target, want)
			}
		}
	}
}

func TestPageAssets(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix, testSpecURL)
	page := body(t, get(t, h, http.MethodGet, testPrefix+"/"))
	refs := pageAssets(t, page)
	if len(refs) != 5 {
		t.Fatalf("page references %d assets, want 5: %q", len(refs), refs)
	}
	for _, ref := range refs {
		if !strings.HasPrefix(ref, testPrefix+"/") || !strings.Contains(ref, "?v=") {
			t.Errorf("asset URL %q is not a versioned URL under %s", ref, testPrefix)
		}
		res := get(t, h, http.MethodGet, ref)
		b := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", ref, res.StatusCode)
			continue
		}
		if len(b) == 0 {
			t.Errorf("GET %s: empty body", ref)
		}
		ct := res.Header.Get("Content-Type")
		switch {
		case strings.Contains(ref, ".js?"):
			if ct != "text/javascript; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q", ref, ct)
			}
		case strings.Contains(ref, ".css?"):
			if ct != "text/css; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q", ref, ct)
			}
		case strings.Contains(ref, ".png?"):
			if ct != "image/png" {
				t.Errorf("GET %s: Content-Type %q", ref, ct)
			}
		default:
			t.Errorf("unexpected asset %s", ref)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", ref, cc)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", ref)
		}
		if res.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: CSP is meant for the page only", ref)
		}
	}
}

func TestAssetWithoutCurrentVersion(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix, testSpecURL)
	for _, target := range []string{
		testPrefix + "/swagger-ui.css",
		testPrefix + "/swagger-ui.css?v=stale",
	} {
		res := get(t, h, http.MethodGet, target)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, res.StatusCode)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", target, cc)
		}
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", target)
		}
		res = get(t, h, http.MethodGet, target, "If-None-Match", etag)
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", target, res.StatusCode)
		}
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix, testSpecURL)
	for _, target := range []string{
		testPrefix + "/nope.js",
		testPrefix + "/swagger-ui-bundle.js.map",
		testPrefix + "/swagger-ui-standalone-preset.js",
		testPrefix + "/index.html",
		testPrefix + "/dist/swagger-ui.css",
		testPrefix + "/../swagger-ui.css",
		testPrefix + "x",
		testPrefix + "x/swagger-ui.css",
		"/",
		"/swagger-ui.css",
	} {
		if res := get(t, h, http.MethodGet, target); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, res.StatusCode)
		}
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix, testSpecURL)
	res := get(t, h, http.MethodHead, testPrefix+"/swagger-ui-bundle.js")
	if res.StatusCode != http.StatusOK || body(t, res) != "" {
		t.Errorf("HEAD: status %d", res.StatusCode)
	}
	res = get(t, h, http.MethodPost, testPrefix+"/")
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestPrefixNormalization(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, page, asset string }{
		{"api-docs/", "/api-docs", "/api-docs/init.js"},
		{"/docs/ui", "/docs/ui/", "/docs/ui/init.js"},
		{"/", "/", "/init.js"},
		{"", "/", "/init.js"},
	} {
		h := Handler(tc.prefix, testSpecURL)
		res := get(t, h, http.MethodGet, tc.page)
		page := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Errorf("prefix %q: GET %s: status %d", tc.prefix, tc.page, res.StatusCode)
		}
		if !strings.Contains(page, `src="`+tc.asset+`?v=`) {
			t.Errorf("prefix %q: page does not reference %s", tc.prefix, tc.asset)
		}
		if res := get(t, h, http.MethodGet, tc.asset); res.StatusCode != http.StatusOK {
			t.Errorf("prefix %q: GET %s: status %d", tc.prefix, tc.asset, res.StatusCode)
		}
	}
}

func TestSpecURLIsEscaped(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix, `/spec?a=1&b="><script>alert(1)</script>`)
	page := body(t, get(t, h, http.MethodGet, testPrefix))
	if strings.Contains(page, "<script>alert") {
		t.Errorf("spec URL is not escaped:\n%s", page)
	}
	h = Handler(testPrefix, `javascript:alert(1)`)
	page = body(t, get(t, h, http.MethodGet, testPrefix))
	if strings.Contains(page, `="javascript:`) {
		t.Errorf("javascript: spec URL made it into the page:\n%s", page)
	}
}

var absURL = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>)]*`)

// TestNoExternalURLs makes sure that nothing we wrote sends the browser to
// another host: the page must work without internet access.
func TestNoExternalURLs(t *testing.T) {
	t.Parallel()
	h := Handler(testPrefix, testSpecURL)
	sources := map[string]string{
		"rendered page": body(t, get(t, h, http.MethodGet, testPrefix)),
	}
	for _, name := range []string{"index.html", "init.js"} {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		sources[name] = string(b)
	}
	for name, text := range sources {
		if m := absURL.FindAllString(text, -1); len(m) > 0 {
			t.Errorf("%s has absolute URLs: %q", name, m)
		}
		if strings.Contains(text, "//cdn") || strings.Contains(text, `"//`) || strings.Contains(text, `'//`) {
			t.Errorf("%s has a protocol-relative URL", name)
		}
	}
	// The bundle's default validatorUrl points at validator.swagger.io:
	// init.js must turn it off.
	initJS, _ := fs.ReadFile(files, "init.js")
	if !regexp.MustCompile(`validatorUrl:\s*null`).Match(initJS) {
		t.Error("init.js does not set validatorUrl: null")
	}
}

func TestDistContents(t *testing.T) {
	t.Parallel()
	cat := loadCatalogue()
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(cat.version) {
		t.Errorf("dist/VERSION = %q", cat.version)
	}
	for name := range cat.assets {
		if strings.HasSuffix(name, ".map") || strings.Contains(name, "standalone") {
			t.Errorf("dist/%s should not be shipped", name)
		}
	}
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui.css"} {
		if strings.Contains(string(cat.assets[name].body), "sourceMappingURL=") {
			t.Errorf("dist/%s references a source map that is not shipped", name)
		}
	}
}
