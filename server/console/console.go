// Package console serves tokend's web console: a small single-page
// application built on the public API only (no private endpoints), whose
// assets are embedded in the binary as they are written. There is no build
// step: assets/ holds plain JavaScript modules, one stylesheet and the page,
// so `go build` alone produces a working console and nothing needs
// reproducing.
//
// The page is served with a strict Content-Security-Policy (no inline
// scripts or styles, no other origin), so the console never loads anything
// from the network but this server.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var files embed.FS

// ContentSecurityPolicy is sent with the page. Everything comes from this
// origin; form-action 'none' makes sure that, should a script fail to load,
// a form can never be submitted the old way (a password in a URL).
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// asset is one embedded file served under the prefix.
type asset struct {
	body        []byte
	contentType string
	token       string // content hash: the ?v= of the page's URLs, and the ETag
}

// loadAssets reads every file of assets/ except the page template, once.
var loadAssets = sync.OnceValue(func() map[string]*asset {
	m, err := readAssets(files)
	if err != nil {
		// The files are embedded at build time: this is a build defect.
		panic("console: " + err.Error())
	}
	return m
})

func readAssets(fsys fs.FS) (map[string]*asset, error) {
	entries, err := fs.ReadDir(fsys, "assets")
	if err != nil {
		return nil, err
	}
	m := make(map[string]*asset, len(entries))
	for _, e := range entries {
		if e.IsDir() || e.Name() == "index.html" || e.Name() == "rules.html" {
			continue
		}
		body, err := fs.ReadFile(fsys, "assets/"+e.Name())
		if err != nil {
			return nil, err
		}
		m[e.Name()] = &asset{body: body, contentType: contentType(e.Name(), body), token: hash(body)}
	}
	return m, nil
}

func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func contentType(name string, body []byte) string {
	switch path.Ext(name) {
	case ".js":
		// Module scripts must have a JavaScript MIME type.
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return http.DetectContentType(body)
}

var pageTemplate = template.Must(template.ParseFS(files, "assets/index.html"))

type handler struct {
	prefix    string // normalized: "" or "/x[/y...]", no trailing slash
	assets    map[string]*asset
	page      []byte
	pageETag  string
	rules     []byte // prefix + "/rules": what each rule refusal means
	rulesETag string
}

// Handler serves the console under prefix (e.g. "/console"): prefix and
// prefix+"/" answer the page, prefix+"/<file>" an embedded asset; anything
// else is 404. It expects the full request path (mount it for both prefix
// and prefix+"/*").
//
// The page links its stylesheet and entry script as "<file>?v=<content
// hash>", cached for a year; other requests for assets (the modules the
// entry script imports) and the page itself are served with
// Cache-Control: no-cache and an ETag, so a new binary is picked up at once.
func Handler(prefix string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	h := &handler{prefix: prefix, assets: loadAssets()}
	url := func(name string) string {
		a := h.assets[name]
		if a == nil {
			panic("console: assets/" + name + " is missing")
		}
		return h.prefix + "/" + name + "?v=" + a.token
	}
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct{ CSS, JS, Icon string }{
		CSS: url("app.css"), JS: url("app.js"), Icon: url("favicon.svg"),
	})
	if err != nil {
		panic("console: index.html: " + err.Error())
	}
	h.page = buf.Bytes()
	h.pageETag = `"` + hash(h.page) + `"`
	h.rules = renderRules(url("app.css"), url("favicon.svg"), h.prefix+"/")
	h.rulesETag = `"` + hash(h.rules) + `"`
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var name string
	switch {
	case p == h.prefix || p == h.prefix+"/":
	case p == h.prefix+"/rules":
		name = "rules"
	case strings.HasPrefix(p, h.prefix+"/"):
		name = p[len(h.prefix)+1:]
		if h.assets[name] == nil {
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
	if name == "" || name == "rules" {
		page, etag := h.page, h.pageETag
		if name == "rules" {
			page, etag = h.rules, h.rulesETag
		}
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		hdr.Set("Cache-Control", cacheRevalidate)
		hdr.Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
		return
	}
	a := h.assets[name]
	hdr.Set("Content-Type", a.contentType)
	if r.URL.Query().Get("v") == a.token {
		hdr.Set("Cache-Control", cacheImmutable)
	} else {
		hdr.Set("Cache-Control", cacheRevalidate)
	}
	hdr.Set("ETag", `"`+a.token+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
