package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// Browser tests drive Debian's chromium through the DevTools protocol
// (chromedp) against the real server: the Swagger UI at /api-docs and the
// web console at /console. One backend is enough for the UI: they run on
// SQLite only.
//
// Without chromium they skip (apt-get install chromium), except under
// CI=true, where .ci/run installs it and a missing browser is a failure.

// artifactsDir is where the tests leave screenshots for people to look at.
// The folder ignores itself in git.
const artifactsDir = "testdata/artifacts"

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not installed (CI=true: .ci/run installs it): apt-get install chromium")
	}
	t.Skip("chromium not installed: apt-get install chromium")
	return ""
}

// browserTab is one browser tab of a test, with what the page reported.
type browserTab struct {
	t      *testing.T
	ctx    context.Context // with the test's deadline
	root   context.Context // without: for the screenshot after a timeout
	origin string
	width  int64

	mu       sync.Mutex
	console  []string // errors and exceptions the page logged
	requests []string // every URL the page requested
	drained  chan struct{}
}

// consoleBarrier is logged by checkPage: once the collector sees it, every
// earlier console message has been collected (the iterator keeps order).
const consoleBarrier = "tokend-test: end of page checks"

// newBrowserTab starts a fresh headless chromium (its own profile in a temporary
// folder) with a width × height viewport. Every step of the test must end
// within timeout.
func newBrowserTab(t *testing.T, origin string, width, height int64, timeout time.Duration) *browserTab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		// Tests run as root in a container: Chrome's sandbox cannot start there.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(width), int(height)),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	// The first call starts the browser; it must not carry the deadline
	// (the deadline would end the browser, not just the step).
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	deadline, cancelDeadline := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelDeadline()
		cancelTab()
		cancelAlloc()
	})
	b := &browserTab{t: t, ctx: deadline, root: ctx, origin: origin, width: width, drained: make(chan struct{}, 1)}

	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Text == consoleBarrier {
				b.drained <- struct{}{}
				continue
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.console = append(b.console, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.URL)
			b.mu.Unlock()
		}
	}()
	b.do(chromedp.EmulateViewport(width, height))
	return b
}

// do runs steps; on failure it saves a screenshot of the page and fails the test.
func (b *browserTab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.fail(err)
	}
}

func (b *browserTab) fail(err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.root, 5*time.Second)
	defer cancel()
	if shot, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		name := "failure-" + strings.ReplaceAll(b.t.Name(), "/", "-") + ".png"
		b.t.Logf("page at the failure: %s", writeArtifact(b.t, name, shot))
	}
	b.mu.Lock()
	b.t.Logf("page console: %q", b.console)
	b.mu.Unlock()
	b.t.Fatal(err)
}

// text is the rendered text of the first element sel selects (CSS).
func (b *browserTab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail(fmt.Errorf("text of %s: %w", sel, err))
	}
	return s
}

func (b *browserTab) value(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.fail(fmt.Errorf("value of %s: %w", sel, err))
	}
	return s
}

// evalJS runs a JavaScript expression (awaiting a promise) and decodes its value.
func evalJS[T any](b *browserTab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(fmt.Errorf("evaluate %s: %w", expr, err))
	}
	return v
}

// focused describes the element that has the keyboard focus.
func (b *browserTab) focused() string {
	b.t.Helper()
	return evalJS[string](b, `(() => { const e = document.activeElement; if (!e) return "";
		return e.id ? "#" + e.id : e.tagName.toLowerCase() + (e.type ? "[type=" + e.type + "]" : "") + ":" + (e.textContent || "").trim(); })()`)
}

// key sends keys (chromedp's kb: "\t" is Tab, "\r" Enter) to the focused element.
func (b *browserTab) key(keys string) {
	b.t.Helper()
	b.do(chromedp.KeyEvent(keys))
}

// tabTo presses Tab until want has the focus, at most max times; each
// focused element must satisfy within (nil: anything).
func (b *browserTab) tabTo(want string, max int, within func(string) bool) {
	b.t.Helper()
	var path []string
	for range max {
		b.key("\t")
		got := b.focused()
		path = append(path, got)
		if within != nil && !within(got) {
			b.fail(fmt.Errorf("Tab left the expected area at %q (path %q)", got, path))
		}
		if got == want {
			return
		}
	}
	b.fail(fmt.Errorf("%s not reached with %d Tabs; focus went %q", want, max, path))
}

// screenshot saves a full-page PNG under testdata/artifacts and logs its path.
func (b *browserTab) screenshot(name string) string {
	b.t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail(err)
	}
	p := writeArtifact(b.t, name, shot)
	b.t.Logf("screenshot: %s", p)
	return p
}

// checkPage fails the test for JavaScript errors, Content-Security-Policy
// violations and requests that left the server's origin.
func (b *browserTab) checkPage() {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`console.debug(` + "`" + consoleBarrier + "`" + `)`))
	select {
	case <-b.drained:
	case <-time.After(5 * time.Second):
		b.t.Error("the page's console messages did not arrive")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		b.t.Errorf("page console error: %s", m)
	}
	for _, u := range b.requests {
		if !strings.HasPrefix(u, b.origin+"/") && !strings.HasPrefix(u, "data:") {
			b.t.Errorf("the page requested %s, outside %s", u, b.origin)
		}
	}
}

func writeArtifact(t *testing.T, name string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Screenshots are outputs, never sources: the folder ignores itself.
	if err := os.WriteFile(filepath.Join(artifactsDir, ".gitignore"), []byte("*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}

// browserBackend: one backend is enough for the UI.
var browserBackend = testenv.Backend{Name: "sqlite"}

// TestSwaggerUIInBrowser: the documented way to try the API: Authorize with
// the bootstrap token, then "Try it out" on GET /v2/user.
func TestSwaggerUIInBrowser(t *testing.T) {
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	b := newBrowserTab(t, env.URL, 1280, 900, 30*time.Second)

	// The TokenHeader scheme's form in the Authorize dialog.
	const tokenHeader = `//form[.//h4/code[text()="TokenHeader"]]`
	op := "#operations-session-getCurrentUser"
	b.do(
		chromedp.Navigate(env.URL+"/api-docs"),
		chromedp.WaitVisible(chromedp.CSS(".btn.authorize")),
		chromedp.Click(chromedp.CSS(".btn.authorize")),
		chromedp.WaitVisible(chromedp.Search(tokenHeader+`//input`)),
		chromedp.SendKeys(chromedp.Search(tokenHeader+`//input`), env.Admin.Token),
		chromedp.Click(chromedp.Search(tokenHeader+`//button[contains(@class,"authorize")]`)),
		chromedp.WaitVisible(chromedp.Search(tokenHeader+`//h6[text()="Authorized"]`)),
		chromedp.Click(chromedp.Search(tokenHeader+`//button[contains(@class,"btn-done")]`)),
		chromedp.WaitNotPresent(chromedp.CSS(".modal-ux")),
		chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
		chromedp.WaitVisible(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.WaitVisible(chromedp.CSS(op+" .execute")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")),
	)
	if got := strings.TrimSpace(b.text(op + " .live-responses-table tbody .response-col_status")); got != "200" {
		t.Fatalf("Try it out answered %q, want 200", got)
	}
	shown := b.text(op + " .live-responses-table tbody .response-col_description pre")
	if !regexp.MustCompile(fmt.Sprintf(`"id":\s*%d\b`, env.Admin.UserID)).MatchString(shown) {
		t.Errorf("response body shown does not carry the caller's id %d:\n%s", env.Admin.UserID, shown)
	}
	shot, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS(op)))
	if err != nil {
		b.fail(err)
	}
	t.Logf("screenshot: %s", writeArtifact(t, "swagger-ui-try-it-out.png", shot))
	b.checkPage()
}

// TestConsoleInBrowser walks through the console: sign in with a password,
// create a token with a role, copy its value, use it, disable it in the
// console, see it rejected; and screenshots of the tokens page.
func TestConsoleInBrowser(t *testing.T) {
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
	// Something to look at besides the new token: a colleague's token, a
	// shared one, a disabled one.
	colleague := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
	newToken(t, env, colleague.Session, client.TokenCreate{Realname: "Nightly report export", Permissions: []string{"analytic"}})
	sharedToken(t, env, admin.Session, "nodes:view", "nodes:create")
	old := newToken(t, env, admin.Session, client.TokenCreate{Realname: "Old CI runner", Permissions: []string{"auditor"}})
	if s := status(t, env, admin.Session, http.MethodPut, fmt.Sprintf("/v2/api_tokens/%d", old.Id), `{"enabled":false}`); s != http.StatusOK {
		t.Fatalf("disable the old token: %d", s)
	}

	b := newBrowserTab(t, env.URL, 1280, 900, 30*time.Second)
	b.do(chromedp.Navigate(env.URL+"/console"), chromedp.WaitVisible(chromedp.ID("email")))
	b.screenshot("console-signin-1280.png")
	b.do(
		chromedp.SendKeys(chromedp.ID("email"), admin.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), admin.Password),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("create-token")),
	)
	if who := b.text("#who"); !strings.Contains(who, admin.User.Email) || !strings.Contains(who, "Administrator") {
		t.Errorf("the top bar shows %q, want the e-mail and role of %s", who, admin.User.Email)
	}
	cred := evalJS[string](b, `sessionStorage.getItem("tokend.console.credential")`)
	if !strings.Contains(cred, `"tks_`) {
		t.Errorf("session storage holds %q, want the tks_ session", cred)
	}

	// Create a token with a role; the value is shown once, with a copy button.
	b.do(
		chromedp.Click(chromedp.ID("create-token")),
		chromedp.WaitVisible(chromedp.ID("token-name")),
		chromedp.SendKeys(chromedp.ID("token-name"), "Deploy pipeline"),
	)
	// Custom permissions: a grid; what the caller does not hold is greyed out.
	b.do(chromedp.Click(chromedp.Search(`//dialog//label[text()="Custom permissions"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open] input.perm[value="nodes:view"]`)))
	if got := evalJS[[]bool](b, `["nodes:view", "api_tokens:manage", "clients:create"].map(p => document.querySelector('dialog[open] input.perm[value="' + p + '"]').disabled)`); fmt.Sprint(got) != "[false false true]" {
		t.Errorf("disabled boxes for nodes:view, api_tokens:manage, clients:create: %v; an Administrator holds the first two only", got)
	}
	b.screenshot("console-create-token-custom-1280.png")
	b.do(chromedp.Click(chromedp.Search(`//dialog//label[text()="A role"]`)),
		chromedp.SetValue(chromedp.ID("token-role"), "analytic"))
	b.screenshot("console-create-token-1280.png")
	b.do(
		chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("token-value")),
	)
	secret := b.value("#token-value")
	if !strings.HasPrefix(secret, "tkd_") {
		t.Fatalf("the dialog shows %q, want a tkd_ value", secret)
	}
	_, err := chromedp.Run(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: env.URL,
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		b.fail(err)
	}
	b.do(chromedp.Click(chromedp.ID("copy-token")),
		chromedp.WaitVisible(chromedp.Search(`//*[contains(@class,"copied")][text()="Copied to clipboard"]`)))
	if got := evalJS[string](b, `navigator.clipboard.readText()`); got != secret {
		t.Errorf("clipboard holds %q, want the token value", got)
	}

	// The value works against the API.
	me := whoAmI(t, env, secret)
	tokenID, err := me.TokenId.Get()
	if err != nil || me.Id != admin.User.Id {
		t.Fatalf("GET /v2/user with the new token: user %d, token %v; want user %d and a token", me.Id, me.TokenId, admin.User.Id)
	}

	// Disable it in the console, through the confirmation dialog.
	row := fmt.Sprintf(`tr[data-token-id="%d"]`, tokenID)
	b.do(
		chromedp.Click(chromedp.ID("secret-done")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog")),
		chromedp.WaitVisible(chromedp.CSS(row+` button[data-action="disable"]`)),
		chromedp.Click(chromedp.CSS(row+` button[data-action="disable"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open] button[type="submit"]`)),
	)
	if q := b.text("dialog[open] h2"); !strings.Contains(q, "Disable") || !strings.Contains(q, "Deploy pipeline") {
		t.Errorf("confirmation asks %q", q)
	}
	b.do(
		chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("dialog")),
		chromedp.WaitVisible(chromedp.CSS(row+` button[data-action="enable"]`)),
	)
	if s := b.text(row + " .cell-status"); !strings.HasPrefix(s, "Disabled") || !strings.Contains(s, "disabled by hand") {
		t.Errorf("status after disabling: %q", s)
	}
	if f := b.focused(); f != "button[type=button]:Enable" {
		t.Errorf("after disabling, the focus is on %q, want the row's Enable button", f)
	}
	if code := authStatus(t, env, secret); code != http.StatusUnauthorized {
		t.Fatalf("GET /v2/user with the disabled token: %d, want 401", code)
	}

	// What the page looks like, for people: wide, then phone-sized.
	owner := b.text(fmt.Sprintf(`tr[data-token-id="%d"] td`, tokenID))
	if !strings.Contains(owner, admin.User.Email) {
		t.Errorf("owner column: %q", owner)
	}
	// A reload keeps the session (session storage) and drops the toast.
	b.do(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(row+` button[data-action="enable"]`)))
	b.screenshot("console-tokens-1280.png")
	b.do(chromedp.EmulateViewport(360, 780, chromedp.EmulateMobile), chromedp.Sleep(200*time.Millisecond))
	if w := evalJS[int](b, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("at 360 px the page is %d px wide: it scrolls sideways", w)
	}
	b.screenshot("console-tokens-360.png")
	b.checkPage()
}

// TestConsoleKeyboard: the sign-in form and the create-token dialog can be
// completed with the keyboard alone (Tab, Enter and typing).
func TestConsoleKeyboard(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
	b := newBrowserTab(t, env.URL, 1280, 900, 30*time.Second)

	b.do(chromedp.Navigate(env.URL+"/console"), chromedp.WaitVisible(chromedp.ID("email")))
	if f := b.focused(); f != "#email" {
		t.Fatalf("the sign-in page starts with the focus on %q, want the e-mail field", f)
	}
	b.key(admin.User.Email)
	b.tabTo("#password", 1, nil)
	b.key(admin.Password)
	b.key("\r")
	// The page takes the focus to its title once it has loaded.
	b.do(chromedp.WaitVisible(chromedp.ID("create-token")),
		chromedp.Poll[chromedp.Void](`document.activeElement && document.activeElement.id === "page-title"`))

	// From the page title, Tab reaches "Create token"; Enter opens the dialog
	// with the focus in its first field.
	b.tabTo("#create-token", 5, nil)
	b.key("\r")
	b.do(chromedp.WaitVisible(chromedp.ID("token-name")))
	if f := b.focused(); f != "#token-name" {
		t.Fatalf("the dialog opens with the focus on %q, want the name field", f)
	}
	b.key("Keyboard token")
	// Tab walks through the dialog (and stays in it) to its submit button.
	inDialog := func(string) bool {
		return evalJS[bool](b, `!!document.activeElement.closest("dialog[open]")`)
	}
	b.tabTo("button[type=submit]:Create token", 25, inDialog)
	b.key("\r")
	b.do(chromedp.WaitVisible(chromedp.ID("token-value")))
	if f := b.focused(); f != "#copy-token" {
		t.Errorf("the new value is shown with the focus on %q, want the copy button", f)
	}
	b.tabTo("#secret-done", 3, inDialog)
	b.key("\r")
	b.do(chromedp.WaitNotPresent(chromedp.CSS("dialog")))
	if f := b.focused(); f != "#create-token" {
		t.Errorf("after the dialog the focus is on %q, want back on Create token", f)
	}
	if got := b.text("#tokens-table tbody tr .token-name"); got != "Keyboard token" {
		t.Errorf("first row: %q", got)
	}
	b.checkPage()
}

// TestConsoleAdminPagesInBrowser: sign in by pasting an API token (the
// bootstrap Global Administrator's), then the users and tenants pages:
// create, change role, disable; then sign out.
func TestConsoleAdminPagesInBrowser(t *testing.T) {
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	api := env.Client(env.Admin.Token)
	b := newBrowserTab(t, env.URL, 1280, 900, 30*time.Second)
	b.do(
		chromedp.Navigate(env.URL+"/console"),
		chromedp.WaitVisible(chromedp.ID("api-token")),
		chromedp.SendKeys(chromedp.ID("api-token"), env.Admin.Token),
		chromedp.Click(chromedp.ID("token-submit")),
		chromedp.WaitVisible(chromedp.ID("create-token")),
	)
	if who := b.text("#who"); !strings.Contains(who, "Global Administrator") || !strings.Contains(who, "API token") {
		t.Errorf("the top bar shows %q", who)
	}

	// Users: create one, change its role, disable it.
	const email = "new.colleague@example.com"
	row := `//tr[.//*[text()="` + email + `"]]`
	submit := chromedp.CSS(`dialog[open] button[type="submit"]`)
	b.do(
		chromedp.Click(chromedp.CSS(`a[data-page="users"]`)),
		chromedp.WaitVisible(chromedp.ID("create-user")),
		chromedp.Click(chromedp.ID("create-user")),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open] input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`dialog[open] input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`dialog[open] input[name="realname"]`), "New Colleague"),
		chromedp.SetValue(chromedp.CSS(`dialog[open] select[name="role"]`), "auditor"),
		chromedp.SendKeys(chromedp.CSS(`dialog[open] input[name="password"]`), "a-long-enough-password"),
		chromedp.Click(submit),
		chromedp.WaitNotPresent(chromedp.CSS("dialog")),
		chromedp.Click(chromedp.Search(row+`//button[text()="Change role"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open] select[name="role"]`)),
		chromedp.SetValue(chromedp.CSS(`dialog[open] select[name="role"]`), "analytic"),
		chromedp.Click(submit),
		chromedp.WaitNotPresent(chromedp.CSS("dialog")),
		chromedp.WaitVisible(chromedp.Search(row+`//td[text()="Analyst (analytic)"]`)),
		chromedp.Click(chromedp.Search(row+`//button[text()="Disable"]`)),
		chromedp.Click(submit),
		chromedp.WaitNotPresent(chromedp.CSS("dialog")),
		chromedp.WaitVisible(chromedp.Search(row+`//button[text()="Enable"]`)),
	)
	q := client.Query(email)
	users, err := api.ListUsersWithResponse(context.Background(), &client.ListUsersParams{Q: &q})
	testenv.Must(t, err)
	if users.JSON200 == nil || len(users.JSON200.Items) != 1 {
		t.Fatalf("the console's user is not in the API: %s", users.Body)
	}
	if u := users.JSON200.Items[0]; u.Role != client.Analytic || u.Enabled {
		t.Errorf("after the console: role %s, enabled %v; want analytic, disabled", u.Role, u.Enabled)
	}
	b.screenshot("console-users-1280.png")

	// Tenants: create one, disable it.
	const tenant = "Acme Retail"
	row = `//tr[.//*[text()="` + tenant + `"]]`
	b.do(
		chromedp.Click(chromedp.CSS(`a[data-page="tenants"]`)),
		chromedp.WaitVisible(chromedp.ID("create-tenant")),
		chromedp.Click(chromedp.ID("create-tenant")),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open] input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`dialog[open] input[name="name"]`), tenant),
		chromedp.Click(submit),
		chromedp.WaitNotPresent(chromedp.CSS("dialog")),
		chromedp.Click(chromedp.Search(row+`//button[text()="Disable"]`)),
		chromedp.Click(submit),
		chromedp.WaitNotPresent(chromedp.CSS("dialog")),
		chromedp.WaitVisible(chromedp.Search(row+`//button[text()="Enable"]`)),
	)
	clients, err := api.ListClientsWithResponse(context.Background(), nil)
	testenv.Must(t, err)
	found := false
	for _, c := range clients.JSON200.Items {
		if c.Name == tenant {
			found = true
			if c.Enabled || c.ParentId.MustGet() != env.Admin.ClientID {
				t.Errorf("tenant after the console: enabled %v, parent %v", c.Enabled, c.ParentId)
			}
		}
	}
	if !found {
		t.Errorf("tenant %q not created", tenant)
	}
	b.screenshot("console-tenants-1280.png")

	// Sign out: back to the sign-in form, nothing left in session storage.
	b.do(chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("email")))
	if left := evalJS[int](b, `sessionStorage.length`); left != 0 {
		t.Errorf("session storage keeps %d items after signing out", left)
	}
	b.checkPage()
}
