package main

// The client half of the binary: subcommands that call a running tokend
// through the generated Go client (gen/client), never the store. Each
// command group embeds clientFlags; its AfterApply hook builds the API
// client once and binds it for the selected command's Run.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/tlsfiles"
)

// Exit codes of every command, documented in docs/CLI.md. Scripts rely on
// them: change none of them.
const (
	exitOK          = 0
	exitInternal    = 1 // unexpected: 5xx, 429, a response the client does not understand, local I/O
	exitUsage       = 2 // bad flags or arguments (nothing was sent)
	exitAuth        = 3 // 401: the token is missing, wrong, expired or disabled
	exitForbidden   = 4 // 403
	exitNotFound    = 5 // 404 (also: not visible to the caller, R6)
	exitRejected    = 6 // 400, 409, 413, 422: the server understood and refused the request
	exitUnreachable = 7 // the server could not be reached (connection refused, DNS, timeout, TLS)
)

// exitError is an error with the exit code it maps to.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// exitCodeOf maps an error returned by a command to the process exit code.
func exitCodeOf(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitInternal
}

// stdio is where commands read and write; bound into every Run so tests
// can run the binary in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	lines    *bufio.Reader // in, once a command reads it line by line
}

// configFlag names the file of tokend login.
type configFlag struct {
	Config string `name:"config" env:"TOKEND_CONFIG" placeholder:"FILE" help:"The file tokend login keeps servers and credentials in (default: tokend/config.json in the user's configuration directory, e.g. ~/.config)."`
}

// clientFlags are the connection and output settings of every client command.
type clientFlags struct {
	URL     string        `name:"url" env:"TOKEND_URL" placeholder:"URL" help:"Base URL of the tokend server (default: the current server of tokend login, else http://127.0.0.1:8080)."`
	Token   string        `name:"token" env:"TOKEND_TOKEN" help:"API token (tkd_…) or session token (tks_…), sent as X-WallarmApi-Token (default: the one tokend login stored for the server). Prefer the environment or tokend login: flags show in ps."`
	Output  string        `name:"output" short:"o" enum:"text,json" default:"text" help:"Output format: text (tables) or json (the API's JSON, for scripts)."`
	Timeout time.Duration `name:"timeout" default:"30s" help:"Give up on a request after this long."`
	caFileFlag
	configFlag
}

// caFileFlag names the CA certificates a client trusts, for every command that calls a server.
type caFileFlag struct {
	CAFile string `name:"ca-file" env:"TOKEND_CA_FILE" placeholder:"FILE" help:"PEM CA certificates to trust for an https --url, besides the system's (a private CA, a self-signed tokend)."`
}

// AfterApply builds the API client and binds it for the command's Run.
func (f *clientFlags) AfterApply(kctx *kong.Context, s *stdio) error {
	a, err := f.connect(s)
	if err != nil {
		return err
	}
	kctx.Bind(a)
	return nil
}

// connect resolves the server and the credential — flag, else environment
// (kong has merged both), else what tokend login stored — and builds the
// client. The file is read only when something is missing from the first
// two, so scripts that pass both never depend on it.
func (f *clientFlags) connect(s *stdio) (*api, error) {
	base, token, source := f.URL, strings.TrimSpace(f.Token), tokenFromFlag
	var stored *storedLogin
	if base == "" || token == "" {
		path, err := configPath(f.Config)
		if err != nil {
			return nil, err
		}
		cfg, err := loadConfig(path, s.err)
		if err != nil {
			return nil, err
		}
		if base == "" {
			base = cmpOr(cfg.Current, defaultURL)
		}
		if key, err := normalizeURL(base); err == nil && token == "" {
			if stored = cfg.Servers[key]; stored != nil {
				token, source = stored.Token, tokenFromLogin
			}
		}
	}
	a, err := newAPI(base, token, f.CAFile, f.Timeout, f.Output == "json", s)
	if err != nil {
		return nil, err
	}
	a.tokenSource, a.stored = source, stored
	return a, nil
}

// Where the credential of a command came from, for the hint of a 401.
const (
	tokenFromFlag  = "flag"  // --token or TOKEND_TOKEN (or none at all)
	tokenFromLogin = "login" // the file of tokend login
)

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// api is a connected client plus output settings.
type api struct {
	c     *client.ClientWithResponses
	base  string
	token string
	json  bool
	io    *stdio
	ctx   context.Context

	timeout     time.Duration
	caFile      string
	tokenSource string
	stored      *storedLogin // the credential of tokend login in use, if any
	names       nameCache
}

func newAPI(rawURL, token, caFile string, timeout time.Duration, jsonOut bool, s *stdio) (*api, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--url/TOKEND_URL %q is not an http:// or https:// URL", rawURL)
	}
	base := strings.TrimRight(rawURL, "/")
	hc, err := tlsfiles.ClientWithCA(caFile, &http.Client{Timeout: timeout})
	if err != nil {
		return nil, usageErrorf("--ca-file/TOKEND_CA_FILE: %v", err)
	}
	c, err := client.NewClientWithResponses(base, client.WithHTTPClient(hc),
		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			if token != "" {
				r.Header.Set("X-WallarmApi-Token", token)
			}
			r.Header.Set("User-Agent", "tokend-cli/"+version)
			return nil
		}))
	if err != nil {
		return nil, usageErrorf("--url: %v", err)
	}
	return &api{c: c, base: base, token: token, json: jsonOut, io: s, ctx: context.Background(), timeout: timeout, caFile: caFile, tokenSource: tokenFromFlag}, nil
}

// sent classifies an error of the generated client: transport failures exit
// 7, anything else (a body it could not decode) 1.
func (a *api) sent(err error) error {
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return &exitError{code: exitUnreachable, msg: fmt.Sprintf("cannot reach the server at %s (check --url or TOKEND_URL): %v", a.base, unwrapURLError(err))}
	}
	return &exitError{code: exitInternal, msg: fmt.Sprintf("unexpected response from %s: %v", a.base, err)}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// check turns a non-2xx answer into an error built from its problem+json.
func (a *api) check(r *http.Response, body []byte) error {
	if r == nil {
		return &exitError{code: exitInternal, msg: "no response"}
	}
	if r.StatusCode >= 200 && r.StatusCode < 300 {
		return nil
	}
	return a.problem(r.StatusCode, body)
}

func (a *api) problem(status int, body []byte) error {
	var p client.Problem
	_ = json.Unmarshal(body, &p)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", status, http.StatusText(status))
	if refusal := refusalWords(p); refusal != "" {
		b.WriteString(": " + refusal)
	}
	if p.Detail != nil && *p.Detail != "" {
		b.WriteString(": " + withoutRuleSuffix(*p.Detail, p.Rule))
	} else if p.Title != "" && p.Title != http.StatusText(status) {
		b.WriteString(": " + p.Title)
	} else if p.Title == "" && len(bytes.TrimSpace(body)) > 0 && len(body) < 300 {
		b.WriteString(": " + strings.TrimSpace(string(body)))
	}
	if p.Errors != nil {
		for _, fe := range *p.Errors {
			if line := fe.Field + ": " + fe.Message; !strings.Contains(b.String(), line) {
				b.WriteString("\n  " + line)
			}
		}
	}
	code := exitInternal
	switch status {
	case http.StatusUnauthorized:
		code = exitAuth
		b.WriteString("\n  " + a.unauthorizedHint())
	case http.StatusForbidden:
		code = exitForbidden
	case http.StatusNotFound:
		code = exitNotFound
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		code = exitRejected
	case http.StatusTooManyRequests:
		b.WriteString("\n  too many requests (or failed authentications) from this address: wait and retry")
	}
	if p.RequestId != nil && status >= 500 {
		fmt.Fprintf(&b, "\n  request id: %s", *p.RequestId)
	}
	return &exitError{code: code, msg: b.String()}
}

// refusalWords names a rule's refusal: "refused by R20 (value-ceiling)".
// The type URI's last segment is its stable code (docs/RULES.md).
func refusalWords(p client.Problem) string {
	if p.Rule == nil || *p.Rule == "" {
		return ""
	}
	code := string(p.Type)
	if i := strings.LastIndexByte(code, '/'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		return "refused by " + *p.Rule
	}
	return fmt.Sprintf("refused by %s (%s)", *p.Rule, code)
}

// withoutRuleSuffix drops a detail's " (R8)" when the refusal already
// names the rule.
func withoutRuleSuffix(detail string, rule *string) string {
	if rule == nil || *rule == "" {
		return detail
	}
	return strings.TrimSuffix(detail, " ("+*rule+")")
}

// unauthorizedHint says which credential to fix.
func (a *api) unauthorizedHint() string {
	switch {
	case a.token == "":
		return "no token was sent: run tokend login, set TOKEND_TOKEN, or pass --token"
	case a.tokenSource == tokenFromLogin && a.stored != nil && a.stored.ExpireAt != nil && !a.stored.ExpireAt.After(time.Now()):
		return fmt.Sprintf("the session tokend login stored for %s ended at %s: run tokend login again", a.base, fmtTime(*a.stored.ExpireAt))
	case a.tokenSource == tokenFromLogin:
		return fmt.Sprintf("the credential tokend login stored for %s was refused (ended, expired, disabled or renewed): run tokend login again", a.base)
	}
	return "check TOKEND_TOKEN (or --token): the token may be wrong, expired, disabled or renewed"
}

// printJSON writes an API body as indented JSON on standard output.
func (a *api) printJSON(body []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		return &exitError{code: exitInternal, msg: fmt.Sprintf("the server answered something that is not JSON: %v", err)}
	}
	buf.WriteByte('\n')
	_, err := a.io.out.Write(buf.Bytes())
	return err
}

// encodeJSON writes a value as indented JSON on standard output.
func (a *api) encodeJSON(v any) error {
	enc := json.NewEncoder(a.io.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
func (a *api) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(a.io.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "Key:  value" lines, aligned. A value of several lines
// continues under the first one; an empty key continues the previous one.
func (a *api) fields(kv [][2]string) error {
	tw := tabwriter.NewWriter(a.io.out, 0, 0, 2, ' ', 0)
	for _, f := range kv {
		for i, line := range strings.Split(f[1], "\n") {
			if i == 0 && f[0] != "" {
				fmt.Fprintf(tw, "%s:\t%s\n", f[0], line)
			} else {
				fmt.Fprintf(tw, "\t%s\n", line)
			}
		}
	}
	return tw.Flush()
}

// listOpts are the paging flags of every list command.
type listOpts struct {
	Limit  int32  `name:"limit" help:"Page size (the server's default when 0)."`
	Cursor string `name:"cursor" help:"The next_cursor of a previous page."`
	All    bool   `name:"all" help:"Follow next_cursor until the last page."`
}

func (l *listOpts) limit() *int32 {
	if l.Limit <= 0 {
		return nil
	}
	return &l.Limit
}

func (l *listOpts) cursor() *string {
	if l.Cursor == "" {
		return nil
	}
	return &l.Cursor
}

// page is the shape of every list answer, items kept as the API sent them.
type page struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor *string           `json:"next_cursor"`
}

// list fetches one page (or, with --all, every page from the cursor on)
// through fetch, and returns the items and the cursor of the next page.
func (a *api) list(l *listOpts, fetch func(cursor *string) (*http.Response, []byte, error)) ([]json.RawMessage, *string, error) {
	var items []json.RawMessage
	cursor := l.cursor()
	for {
		r, body, err := fetch(cursor)
		if err != nil {
			return nil, nil, a.sent(err)
		}
		if err := a.check(r, body); err != nil {
			return nil, nil, err
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, nil, &exitError{code: exitInternal, msg: fmt.Sprintf("unexpected list answer: %v", err)}
		}
		items = append(items, p.Items...)
		if !l.All || p.NextCursor == nil || *p.NextCursor == "" {
			if items == nil {
				items = []json.RawMessage{}
			}
			return items, p.NextCursor, nil
		}
		cursor = p.NextCursor
	}
}

// printList prints a list: in json mode as {"items": […], "next_cursor": …};
// as a table otherwise ("no tokens" when there is none), with a note on
// standard error when more pages exist. prepare, if given, sees every
// item before the first row is made (to look names up in few requests).
func printList[T any](a *api, noun string, items []json.RawMessage, next *string, header []string, prepare func([]T), row func(T) []string) error {
	if a.json {
		return a.encodeJSON(page{Items: items, NextCursor: next})
	}
	values := make([]T, 0, len(items))
	for _, raw := range items {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return &exitError{code: exitInternal, msg: fmt.Sprintf("unexpected list item: %v", err)}
		}
		values = append(values, v)
	}
	if len(values) == 0 {
		if _, err := fmt.Fprintln(a.io.out, "no "+noun); err != nil {
			return err
		}
	} else {
		if prepare != nil {
			prepare(values)
		}
		rows := make([][]string, 0, len(values))
		for _, v := range values {
			rows = append(rows, row(v))
		}
		if err := a.table(header, rows); err != nil {
			return err
		}
	}
	if next != nil && *next != "" {
		fmt.Fprintf(a.io.err, "tokend: more results: add --cursor %s, or --all\n", *next)
	}
	return nil
}

// Formatting helpers shared by the tables.

const timeLayout = "2006-01-02 15:04 MST"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func fmtOptTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return fmtTime(*t)
}

func enabledWord(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// expiry is a flag value: an RFC 3339 time, a date (midnight UTC), a
// duration from now (90m, 12h, 30d, 2w), or "never".
type expiry struct {
	set   bool
	never bool
	at    time.Time
}

// Decode implements kong.MapperValue.
func (e *expiry) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("expiry", &s); err != nil {
		return err
	}
	v, err := parseExpiry(s, time.Now())
	if err != nil {
		return err
	}
	*e = v
	return nil
}

func parseExpiry(s string, now time.Time) (expiry, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "never", "none", "null":
		return expiry{set: true, never: true}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return expiry{set: true, at: t}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return expiry{set: true, at: t}, nil
		}
	}
	if d, err := parseDuration(s); err == nil && d > 0 && d < 100000*24*time.Hour {
		return expiry{set: true, at: now.Add(d)}, nil
	}
	return expiry{}, fmt.Errorf("%q is not an expiry: use an RFC 3339 time (2030-01-31T12:00:00Z), a date (2030-01-31), a duration from now (12h, 30d, 2w), or never", s)
}

// apply sets a nullable expire_at body field: a time, explicit null, or
// nothing when the flag was not given.
func (e expiry) apply(set func(time.Time), setNull func()) {
	switch {
	case !e.set:
	case e.never:
		setNull()
	default:
		set(e.at.UTC().Truncate(time.Millisecond))
	}
}

// readPassword reads a password from standard input (the whole input, one
// trailing newline removed).
func readPassword(in io.Reader) (string, error) {
	if in == nil {
		return "", usageErrorf("--password-stdin: no standard input")
	}
	b, err := io.ReadAll(io.LimitReader(in, 4096))
	if err != nil {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", usageErrorf("--password-stdin: standard input is empty")
	}
	return pw, nil
}

// boolFilter maps a pair of mutually exclusive switches to a tri-state filter.
func boolFilter(yes, no bool) *bool {
	switch {
	case yes:
		t := true
		return &t
	case no:
		f := false
		return &f
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
