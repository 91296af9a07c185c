// Package swaggerui serves Swagger UI for the tokend API from assets embedded
// in the binary, so the page works without internet access (no CDN).
//
// The assets in dist/ are copied from the npm package swagger-ui-dist by
// scripts/update-swagger-ui.sh; dist/VERSION holds its version. index.html
// and init.js are ours.
package swaggerui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed index.html init.js dist
var files embed.FS

// contentSecurityPolicy is sent with the HTML page. Swagger UI needs inline
// styles (React style attributes) and data: images (icons in its CSS); all
// scripts, the spec and "Try it out" requests stay on this origin.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// asset is an embedded file served under the prefix.
type asset struct {
	body        []byte
	contentType string
	token       string // content hash, the value of ?v= in the page's URLs
	etag        string
}

// catalogue is everything the handler serves, loaded once per process.
type catalogue struct {
	version string            // swagger-ui-dist version, from dist/VERSION
	assets  map[string]*asset // by file name, e.g. "swagger-ui.css"
}

var loadCatalogue = sync.OnceValue(func() *catalogue {
	c, err := newCatalogue(files)
	if err != nil {
		// The files are embedded at build time: this is a build defect.
		panic("swaggerui: " + err.Error())
	}
	return c
})

func newCatalogue(fsys fs.FS) (*catalogue, error) {
	c := &catalogue{assets: make(map[string]*asset)}

	v, err := fs.ReadFile(fsys, "dist/VERSION")
	if err != nil {
		return nil, err
	}
	c.version = strings.TrimSpace(string(v))

	add := func(name, file string) error {
		body, err := fs.ReadFile(fsys, file)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		token := hex.EncodeToString(sum[:6])
		c.assets[name] = &asset{
			body:        body,
			contentType: contentType(name, body),
			token:       token,
			etag:        `"` + token + `"`,
		}
		return nil
	}
	if err := add("init.js", "init.js"); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(fsys, "dist")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := add(e.Name(), "dist/"+e.Name()); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"} {
		if c.assets[name] == nil {
			return nil, fmt.Errorf("dist/%s is missing; run scripts/update-swagger-ui.sh", name)
		}
	}
	return c, nil
}

func contentType(name string, body []byte) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".png":
		return "image/png"
	case ".html":
		return "text/html; charset=utf-8"
	case ".txt", "": // LICENSE, NOTICE, VERSION
		return "text/plain; charset=utf-8"
	}
	return http.DetectContentType(body)
}

var pageTemplate = template.Must(template.ParseFS(files, "index.html"))

// handler is the http.Handler returned by Handler.
type handler struct {
	prefix   string // normalized: "" or "/x[/y...]", no trailing slash
	cat      *catalogue
	page     []byte
	pageETag string
}

// Handler serves the Swagger UI page and its assets. It is mounted at prefix
// (e.g. "/api-docs"): GET prefix and prefix+"/" answer the HTML page;
// prefix+"/<asset>" answers an embedded asset with a correct Content-Type and
// a long Cache-Control with immutable for versioned assets; unknown paths →
// 404.
//
// The handler expects the full request path (do not strip the prefix), so
// mount it for both prefix and prefix+"/", e.g.
//
//	mux.Handle("/api-docs", h)
//	mux.Handle("/api-docs/", h)
//
// or with echo:
//
//	e.GET("/api-docs", echo.WrapHandler(h))
//	e.GET("/api-docs/*", echo.WrapHandler(h))
//
// specURL is the URL of the OpenAPI document, e.g. "/api/v1/api-docs". The
// page resolves it against its own location; it must be on the same origin,
// or the Content-Security-Policy of the page blocks the fetch.
//
// The page links each asset as prefix+"/<asset>?v=<hash of its content>";
// requests carrying the current hash are cached as immutable for a year,
// others are served with Cache-Control: no-cache and an ETag.
func Handler(prefix, specURL string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	h := &handler{prefix: prefix, cat: loadCatalogue()}

	assetURL := func(name string) string {
		return h.prefix + "/" + name + "?v=" + h.cat.assets[name].token
	}
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct {
		Version, SpecURL                        string
		CSS, Bundle, Init, Favicon32, Favicon16 string
	}{
		Version:   h.cat.version,
		SpecURL:   specURL,
		CSS:       assetURL("swagger-ui.css"),
		Bundle:    assetURL("swagger-ui-bundle.js"),
		Init:      assetURL("init.js"),
		Favicon32: assetURL("favicon-32x32.png"),
		Favicon16: assetURL("favicon-16x16.png"),
	})
	if err != nil {
		panic("swaggerui: index.html: " + err.Error())
	}
	h.page = buf.Bytes()
	sum := sha256.Sum256(h.page)
	h.pageETag = `"` + hex.EncodeToString(sum[:6]) + `"`
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var name string
	switch {
	case p == h.prefix || p == h.prefix+"/":
	case strings.HasPrefix(p, h.prefix+"/"):
		name = p[len(h.prefix)+1:]
		if h.cat.assets[name] == nil {
			http.NotFound(w, r)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}

	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	if name == "" {
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		// Not framed (clickjacking), and no URL with a token in it leaks
		// to another site through Referer.
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", cacheRevalidate)
		hdr.Set("ETag", h.pageETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page))
		return
	}

	a := h.cat.assets[name]
	hdr.Set("Content-Type", a.contentType)
	if r.URL.Query().Get("v") == a.token {
		hdr.Set("Cache-Control", cacheImmutable)
	} else {
		hdr.Set("Cache-Control", cacheRevalidate)
	}
	hdr.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
