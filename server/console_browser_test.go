package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/testenv"
)

// The console's flows of issue 17, each at a desktop width (1,280 px) and a
// phone's (390 px). At every step the page must fit: no sideways scroll,
// and no button outside the viewport or cut off by a box that clips it; in
// an open dialog, the buttons of its head and foot must be on screen
// without scrolling.

// consoleWidths are the widths every console flow is checked at.
var consoleWidths = []struct {
	name          string
	width, height int64
}{
	{"1280px", 1280, 900},
	{"390px", 390, 844},
}

// fits fails the test, naming what sticks out, when the page (or its open
// dialog) does not fit the viewport. where says which step it was.
func (b *browserTab) fits(where string) {
	b.t.Helper()
	problems := b.overflows()
	for _, p := range problems {
		b.t.Errorf("%s at %d px: %s", where, b.width, p)
	}
	if len(problems) > 0 {
		b.screenshot(fmt.Sprintf("overflow-%s-%s.png", strings.ReplaceAll(b.t.Name(), "/", "-"), strings.ReplaceAll(where, " ", "-")))
	}
}

// overflows lists what does not fit (see fits).
func (b *browserTab) overflows() []string {
	b.t.Helper()
	return evalJS[[]string](b, `(() => {
		const vw = window.innerWidth, vh = window.innerHeight, out = [];
		const sw = document.documentElement.scrollWidth;
		if (sw > vw) out.push("the page is " + sw + " px wide in a " + vw + " px viewport");
		const dialog = document.querySelector("dialog[open]");
		for (const b of (dialog || document).querySelectorAll("button, a.btn")) {
			const r = b.getBoundingClientRect();
			if (r.width === 0 && r.height === 0) continue; // not rendered
			const name = (b.id ? "#" + b.id + " " : "") + JSON.stringify((b.textContent || "").trim());
			if (r.left < -0.5 || r.right > vw + 0.5) out.push(name + " spans x " + Math.round(r.left) + ".." + Math.round(r.right) + ", outside 0.." + vw);
			if (dialog && b.closest(".dialog-foot, .dialog-head")) {
				const dr = dialog.getBoundingClientRect();
				if (r.top < Math.max(0, dr.top) - 0.5 || r.bottom > Math.min(vh, dr.bottom) + 0.5)
					out.push(name + " spans y " + Math.round(r.top) + ".." + Math.round(r.bottom) + ", outside the dialog or the " + vh + " px viewport");
			}
			for (let a = b.parentElement; a && a !== document.documentElement; a = a.parentElement) {
				if (getComputedStyle(a).overflowX === "visible") continue;
				const ar = a.getBoundingClientRect();
				if (r.left < ar.left - 0.5 || r.right > ar.right + 0.5) {
					out.push(name + " is cut off by " + a.tagName.toLowerCase() + "." + a.className);
					break;
				}
			}
		}
		return out;
	})()`)
}

// TestConsoleLayoutCheckCatchesOverflow: the layout check fails on what issue 17 saw —
// a page wider than the window, a button cut off by the table's box, a
// dialog whose buttons fall below the fold — so a pass means something.
func TestConsoleLayoutCheckCatchesOverflow(t *testing.T) {
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
	b := newBrowserTab(t, env.URL, 390, 844, 30*time.Second)
	b.do(chromedp.Navigate(env.URL + "/console"))
	b.signIn(admin)
	b.do(chromedp.WaitVisible(chromedp.CSS("#tokens-table tbody tr")))
	if got := b.overflows(); len(got) != 0 {
		t.Fatalf("the plain page does not fit: %v", got)
	}
	for _, tc := range []struct{ name, breakIt, undo, want string }{
		{"wide page", `document.querySelector(".page-head").style.width = "600px"`, `document.querySelector(".page-head").style.width = ""`, "px wide in a 390 px viewport"},
		{"clipped button", `(() => { const w = document.querySelector(".table-wrap"); w.style.overflow = "hidden"; w.querySelector("button").style.marginLeft = "500px"; })()`,
			`(() => { const w = document.querySelector(".table-wrap"); w.style.overflow = ""; w.querySelector("button").style.marginLeft = ""; })()`, "cut off by div.table-wrap"},
	} {
		b.do(chromedp.Evaluate[chromedp.Void](tc.breakIt))
		if got := strings.Join(b.overflows(), "\n"); !strings.Contains(got, tc.want) {
			t.Errorf("%s: the check reports %q, want %q", tc.name, got, tc.want)
		}
		b.do(chromedp.Evaluate[chromedp.Void](tc.undo))
	}
	// A dialog whose foot is pushed below the viewport.
	b.do(chromedp.Click(chromedp.ID("create-token")), chromedp.WaitVisible(chromedp.ID("token-name")),
		chromedp.Evaluate[chromedp.Void](`(() => { const d = document.querySelector("dialog[open]"); d.style.maxHeight = "none"; d.querySelector(".dialog-body").style.minHeight = "2000px"; })()`))
	if got := strings.Join(b.overflows(), "\n"); !strings.Contains(got, "outside the dialog or the 844 px viewport") {
		t.Errorf("a dialog with its buttons below the fold: the check reports %q", got)
	}
}

// readmeScreenshot writes the viewport as docs/img/<name> when
// TOKEND_SCREENSHOTS names that folder (make screenshots), so the README's
// pictures are of the product as it is.
func (b *browserTab) readmeScreenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("TOKEND_SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir) // tests run in server/; the path is the repository's
	}
	// No passing toast in the picture; then let its fade end.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("status").classList.remove("visible")`), chromedp.Sleep(400*time.Millisecond))
	shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fail(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("README screenshot: %s (%d bytes)", p, len(shot))
}

// signIn signs in to the console with e-mail and password and waits for
// the top bar.
func (b *browserTab) signIn(p person) {
	b.t.Helper()
	b.do(
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), p.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), p.Password),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("who")),
		chromedp.WaitVisible(chromedp.ID("page-title")),
	)
}

func within(t *testing.T, what string, got, want time.Time, slack time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -slack || d > slack {
		t.Errorf("%s: %s, want %s (±%s)", what, got.Format(time.RFC3339), want.Format(time.RFC3339), slack)
	}
}

// TestConsoleTokenFlows: the token list flags what expires soon and what
// never expires; the create dialog offers the catalog's permissions and
// nothing else, keeps its buttons in view and defaults to 90 days, as the
// CLI does; a token's page shows what it may do, whose it is, when it
// stops and what happened to it; an edit lands in the API; a rule's
// refusal is shown in words with a link to the rule; signing out and in as
// somebody else lands on their home page.
func TestConsoleTokenFlows(t *testing.T) {
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	catalog, err := env.Client(env.Admin.Token).ListPermissionsWithResponse(context.Background())
	testenv.Must(t, err)
	var offered []string
	for _, p := range catalog.JSON200.Permissions {
		offered = append(offered, p.Name)
	}

	for _, w := range consoleWidths {
		t.Run(w.name, func(t *testing.T) {
			admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
			colleague := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
			analyst := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
			soon := newToken(t, env, admin.Session, client.TokenCreate{Realname: "Expiring soon",
				Permissions: []string{"attacks:view", "api_discovery:view", "api_discovery:update"},
				ExpireAt:    nullable.NewNullableWithValue(time.Now().Add(3*24*time.Hour + time.Hour))})
			forever := newToken(t, env, admin.Session, client.TokenCreate{Realname: "Forever", Permissions: []string{"auditor"}})
			theirs := newToken(t, env, colleague.Session, client.TokenCreate{Realname: "Colleague export", Permissions: []string{"analytic"},
				ExpireAt: nullable.NewNullableWithValue(time.Now().Add(30 * 24 * time.Hour))})

			b := newBrowserTab(t, env.URL, w.width, w.height, 60*time.Second)
			b.do(chromedp.Navigate(env.URL + "/console"))
			b.signIn(admin)
			if who := b.text("#who"); !strings.Contains(who, "Administrator (admin)") {
				t.Errorf("the top bar shows %q, want the role as “Administrator (admin)”", who)
			}

			// The list: expiring soon and never expiring are flagged.
			row := func(id int64) string { return fmt.Sprintf(`#tokens-table tr[data-token-id="%d"]`, id) }
			b.do(chromedp.WaitVisible(chromedp.CSS(row(soon.Id))))
			if got := b.text(row(soon.Id) + " .cell-expiry"); !strings.Contains(got, "Expires soon") || !strings.Contains(got, "in 3 days") {
				t.Errorf("a token expiring in 3 days shows %q, want “in 3 days” and “Expires soon”", got)
			}
			if got := b.text(row(forever.Id) + " .cell-expiry"); !strings.Contains(got, "Never expires") {
				t.Errorf("a token without expiry shows %q, want “Never expires”", got)
			}
			if got := b.text(row(theirs.Id) + " .cell-expiry"); strings.Contains(got, "soon") || strings.Contains(got, "Never") {
				t.Errorf("a token expiring in 30 days shows %q: neither soon nor never", got)
			}
			if got := b.text(row(forever.Id) + " .cell-perms"); got != "Read Only (auditor)" {
				t.Errorf("a token made from the auditor role shows %q, want “Read Only (auditor)”", got)
			}
			if got := b.text(row(theirs.Id) + " td"); !strings.Contains(got, colleague.User.Email) {
				t.Errorf("the owner of a colleague's token shows as %q, want the e-mail", got)
			}
			b.fits("token list")
			b.screenshot("console-token-list-" + w.name + ".png")
			if w.width == 1280 {
				b.readmeScreenshot("console-tokens.png")
			}

			// Create: only the catalog's permissions, the buttons in view,
			// no scrolling box inside the scrolling dialog, 90 days by default.
			b.do(chromedp.Click(chromedp.ID("create-token")), chromedp.WaitVisible(chromedp.ID("token-name")))
			b.fits("create dialog")
			if got := b.value("dialog[open] select[name=expiry]"); got != "90" {
				t.Errorf("the create dialog's expiry starts at %q, want 90 (days, as the CLI)", got)
			}
			b.do(chromedp.SendKeys(chromedp.ID("token-name"), "Made in the console"),
				chromedp.Click(chromedp.Search(`//dialog//label[text()="Custom permissions"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open] input.perm[value="nodes:view"]`)))
			b.fits("create dialog, custom permissions")
			b.screenshot("console-create-custom-" + w.name + ".png")
			if got := evalJS[[]string](b, `[...document.querySelectorAll("dialog[open] input.perm")].map(i => i.value)`); !slices.Equal(sorted(got), sorted(offered)) {
				t.Errorf("the grid offers %v,\nthe catalog (GET /v2/permissions) has %v", got, offered)
			}
			if boxes := evalJS[[]string](b, `[...document.querySelectorAll("dialog[open] .dialog-body *")].filter(e => e.scrollHeight > e.clientHeight + 1 && ["auto", "scroll"].includes(getComputedStyle(e).overflowY)).map(e => e.tagName + "." + e.className)`); len(boxes) != 0 {
				t.Errorf("boxes scroll inside the dialog besides its body: %v", boxes)
			}
			if boxes := evalJS[[]string](b, `[...document.querySelectorAll("dialog[open] .dialog-body *")].filter(e => e.scrollWidth > e.clientWidth + 1 && ["auto", "scroll"].includes(getComputedStyle(e).overflowX)).map(e => e.tagName + "." + e.className)`); len(boxes) != 0 {
				t.Errorf("boxes scroll sideways inside the dialog: %v", boxes)
			}
			if w.width == 1280 {
				b.readmeScreenshot("console-create-token.png")
			}
			b.do(chromedp.Click(chromedp.CSS(`dialog[open] input.perm[value="nodes:view"]`)),
				chromedp.Click(chromedp.CSS(`dialog[open] input.perm[value="attacks:view"]`)),
				chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.ID("token-value")))
			created := whoAmI(t, env, b.value("#token-value"))
			createdID, _ := created.TokenId.Get()
			made := readToken(t, env, admin.Session, createdID)
			if !slices.Equal(made.Permissions, []string{"nodes:view", "attacks:view"}) || made.Realname != "Made in the console" {
				t.Errorf("the console created %q with %v", made.Realname, made.Permissions)
			}
			exp, err := made.ExpireAt.Get()
			if err != nil {
				t.Errorf("the console's default made a token that never expires; want 90 days")
			} else {
				within(t, "default expiry", exp, time.Now().Add(90*24*time.Hour), 5*time.Minute)
			}
			b.do(chromedp.Click(chromedp.ID("secret-done")), chromedp.WaitNotPresent(chromedp.CSS("dialog")))

			// A token's page.
			b.do(chromedp.Click(chromedp.CSS(row(soon.Id)+" a.token-name")), chromedp.WaitVisible(chromedp.ID("token-details")))
			details := b.text("#token-details")
			for _, want := range []string{admin.User.Email, "Default company", "Custom permissions", "in 3 days", "Expires soon", "Never"} {
				if !strings.Contains(details, want) {
					t.Errorf("the token's details lack %q:\n%s", want, details)
				}
			}
			if !strings.Contains(b.text("#token-expiring"), "Expires in 3 days") {
				t.Errorf("no warning that the token expires in 3 days")
			}
			cells := evalJS[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("#token-perms td[data-permission]")].map(td => [td.dataset.permission, td.className]))`)
			for p, want := range map[string]string{"api_discovery:update": "perm-yes", "attacks:view": "perm-yes", "attacks:update": "perm-no", "clients:view": "perm-no"} {
				if cells[p] != want {
					t.Errorf("permission table: %s is %q, want %q", p, cells[p], want)
				}
			}
			if _, ok := cells["activity_log:create"]; ok {
				t.Error("the permission table shows activity_log:create, which does not exist")
			}
			if got := b.text("#token-activity tbody"); !strings.Contains(got, "Created") || !strings.Contains(got, admin.User.Email) {
				t.Errorf("the token's activity shows %q, want its creation by %s", got, admin.User.Email)
			}
			b.fits("token page")
			b.screenshot("console-token-page-" + w.name + ".png")
			if w.width == 1280 {
				b.readmeScreenshot("console-token-detail.png")
			}

			// Edit: name, one more permission, 30 days; the API has it.
			b.do(chromedp.Click(chromedp.ID("edit-token")), chromedp.WaitVisible(chromedp.ID("edit-name")))
			b.fits("edit dialog")
			b.screenshot("console-edit-token-" + w.name + ".png")
			if got := evalJS[[]string](b, `[...document.querySelectorAll("dialog[open] input.perm:checked")].map(i => i.value)`); !slices.Equal(got, []string{"attacks:view", "api_discovery:view", "api_discovery:update"}) {
				t.Errorf("the edit dialog starts with %v ticked, want the token's permissions", got)
			}
			b.do(chromedp.SetValue(chromedp.ID("edit-name"), "Expiring later"),
				chromedp.Click(chromedp.CSS(`dialog[open] input.perm[value="attacks:update"]`)),
				chromedp.SetValue(chromedp.CSS(`dialog[open] select[name=expiry]`), "30"),
				chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.WaitNotPresent(chromedp.CSS("dialog")),
				chromedp.WaitVisible(chromedp.Search(`//h1[text()="Expiring later"]`)))
			edited := readToken(t, env, admin.Session, soon.Id)
			if edited.Realname != "Expiring later" || !slices.Equal(edited.Permissions, []string{"attacks:view", "attacks:update", "api_discovery:view", "api_discovery:update"}) {
				t.Errorf("after the edit the API has %q with %v", edited.Realname, edited.Permissions)
			}
			if exp, err := edited.ExpireAt.Get(); err != nil {
				t.Error("after choosing 30 days the token never expires")
			} else {
				within(t, "edited expiry", exp, time.Now().Add(30*24*time.Hour), 5*time.Minute)
			}
			if cls := evalJS[string](b, `document.querySelector('#token-perms td[data-permission="attacks:update"]').className`); cls != "perm-yes" {
				t.Errorf("the page after the edit shows attacks:update as %q", cls)
			}

			// Renew with a grace period: the dialog says until when the old
			// value works, and both values work; "Show value" reads the new one.
			b.do(chromedp.Click(chromedp.ID("renew-token")), chromedp.WaitVisible(chromedp.ID("renew-grace")),
				chromedp.SetValue(chromedp.ID("renew-grace"), "3600"),
				chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.ID("token-value")))
			if got := b.text("dialog[open] .dialog-text"); !strings.Contains(got, "The old value keeps working until") {
				t.Errorf("after a renewal with a grace period the console says %q, want until when the old value works", got)
			}
			renewed := b.value("#token-value")
			if renewed == soon.Secret || authStatus(t, env, renewed) != http.StatusOK || authStatus(t, env, soon.Secret) != http.StatusOK {
				t.Errorf("after renewing with an hour's grace: the new value and the old one must both work")
			}
			b.do(chromedp.Click(chromedp.ID("secret-done")), chromedp.WaitNotPresent(chromedp.CSS("dialog")),
				chromedp.WaitVisible(chromedp.ID("show-secret")), chromedp.Click(chromedp.ID("show-secret")),
				chromedp.WaitVisible(chromedp.ID("token-value")))
			if got := b.value("#token-value"); got != renewed {
				t.Errorf("Show value after the renewal shows another value than the renewal gave")
			}
			b.do(chromedp.Click(chromedp.ID("secret-done")), chromedp.WaitNotPresent(chromedp.CSS("dialog")))

			// A rule's refusal in words, with a link to the rule: the owner
			// of a token is disabled (R11), so the token cannot be enabled.
			if s := status(t, env, admin.Session, http.MethodPut, fmt.Sprintf("/v2/users/%d", colleague.User.Id), `{"enabled":false}`); s != http.StatusOK {
				t.Fatalf("disable the colleague: %d", s)
			}
			b.do(chromedp.Navigate(fmt.Sprintf("%s/console#/tokens/%d", env.URL, theirs.Id)), chromedp.WaitVisible(chromedp.ID("token-disabled")))
			if got := b.text("#token-disabled"); !strings.Contains(got, "its owner was disabled") || !strings.Contains(got, "deleted for good on") {
				t.Errorf("a token disabled with its owner says %q, want the reason and the purge date", got)
			}
			b.do(chromedp.Click(chromedp.ID("enable-token")),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open] .form-error a.rule-link`)))
			refusal := b.text("dialog[open] .form-error")
			link := evalJS[string](b, `document.querySelector("dialog[open] .form-error a.rule-link").href`)
			if strings.Contains(refusal, "(R11)") || !strings.Contains(refusal, "Why: rule R11") || !strings.Contains(refusal, "owner") {
				t.Errorf("the refusal reads %q, want it in words with “Why: rule R11”", refusal)
			}
			if link != env.URL+"/console/rules#owner-disabled" {
				t.Errorf("the refusal links %q, want the rules page's owner-disabled entry", link)
			}
			b.fits("refusal in a dialog")
			b.screenshot("console-refusal-" + w.name + ".png")
			b.expectConsole("409 (Conflict)") // the refused PUT, as Chrome logs it
			b.do(chromedp.Click(chromedp.Search(`//dialog//button[text()="Cancel"]`)), chromedp.WaitNotPresent(chromedp.CSS("dialog")),
				chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("owner-disabled")))
			if got := b.text("#owner-disabled"); !strings.Contains(got, "The token's owner is disabled") || !strings.Contains(got, "R11") {
				t.Errorf("the rule's entry reads %q", got)
			}
			b.fits("rules page")

			// Sign out from a page an analyst may not open; the analyst who
			// signs in next lands on their own home page.
			b.do(chromedp.Navigate(env.URL+"/console#/tenants"), chromedp.WaitVisible(chromedp.ID("tenants-table")),
				chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("email")))
			if h := evalJS[string](b, `location.hash`); h != "" {
				t.Errorf("after signing out the URL keeps %q", h)
			}
			b.signIn(analyst)
			if h, title := evalJS[string](b, `location.hash`), b.text("#page-title"); h != "#/tokens" || title != "API tokens" {
				t.Errorf("the next user lands on %q (%q), want their home page #/tokens", h, title)
			}
			if strings.Contains(b.text("#view"), "cannot open") {
				t.Error("the next user sees the previous user's page")
			}
			if who := b.text("#who"); !strings.Contains(who, "Analyst (analytic)") {
				t.Errorf("the top bar shows %q", who)
			}
			b.fits("analyst's home")
			b.checkPage()
		})
	}
}

// expectConsole drops the page's console errors that contain text: a
// request the test made fail on purpose.
func (b *browserTab) expectConsole(text string) {
	b.t.Helper()
	b.do(chromedp.Sleep(100 * time.Millisecond))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.console = slices.DeleteFunc(b.console, func(m string) bool { return strings.Contains(m, text) })
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestConsoleUserAndTenantFlows: a user's password reset gives a one-time
// password (R22) that signs in only to choose a new one; deleting a user
// removes it; a tenant is renamed; at both widths, through the API.
func TestConsoleUserAndTenantFlows(t *testing.T) {
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	api := env.Client(env.Admin.Token)
	ctx := context.Background()
	for _, w := range consoleWidths {
		t.Run(w.name, func(t *testing.T) {
			admin := newPerson(t, env, env.Admin.Token, client.PartnerAdmin, 0)
			forgetful := newPerson(t, env, env.Admin.Token, client.Auditor, 0)
			leaving := newPerson(t, env, env.Admin.Token, client.Analytic, 0)
			leavingToken := newToken(t, env, leaving.Session, client.TokenCreate{Permissions: []string{"attacks:view"}})
			tenant := newTenant(t, env, "Tenant "+w.name)

			b := newBrowserTab(t, env.URL, w.width, w.height, 60*time.Second)
			b.do(chromedp.Navigate(env.URL + "/console"))
			b.signIn(admin)
			userRow := func(p person) string { return fmt.Sprintf(`#users-table tr[data-user-id="%d"]`, p.User.Id) }
			b.do(chromedp.Click(chromedp.CSS(`a[data-page="users"]`)), chromedp.WaitVisible(chromedp.CSS(userRow(forgetful))))
			if got := b.text(userRow(forgetful) + ` td[data-label="Role"]`); got != "Read Only (auditor)" {
				t.Errorf("the users page shows the role as %q, want “Read Only (auditor)”", got)
			}
			b.fits("users page")

			// Password reset: a one-time password, shown once.
			b.do(chromedp.Click(chromedp.CSS(userRow(forgetful)+` button[data-action="password"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open] button[type="submit"]`)))
			b.fits("password reset dialog")
			b.do(chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("token-value")))
			oneTime := b.value("#token-value")
			b.fits("one-time password dialog")
			b.do(chromedp.Click(chromedp.ID("secret-done")), chromedp.WaitNotPresent(chromedp.CSS("dialog")))
			r, err := env.Client("").LoginWithResponse(ctx, client.LoginRequest{Email: forgetful.User.Email, Password: oneTime})
			testenv.Must(t, err)
			if r.StatusCode() != 200 || !r.JSON200.PasswordChangeRequired {
				t.Errorf("sign-in with the console's one-time password: %d %s; want 200 with password_change_required", r.StatusCode(), r.Body)
			}
			if code := authStatus(t, env, forgetful.Session); code != http.StatusUnauthorized {
				t.Errorf("the user's earlier session answers %d after the reset, want 401 (R22)", code)
			}
			if code := loginStatus(t, env, forgetful.User.Email, forgetful.Password); code != http.StatusUnauthorized {
				t.Errorf("the old password signs in (%d) after the reset", code)
			}

			// Delete a user: gone from the API, and its tokens with it (R11).
			b.do(chromedp.Click(chromedp.CSS(userRow(leaving)+` button[data-action="delete"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.WaitNotPresent(chromedp.CSS("dialog")),
				chromedp.WaitNotPresent(chromedp.CSS(userRow(leaving))))
			if code := status(t, env, env.Admin.Token, http.MethodGet, fmt.Sprintf("/v2/users/%d", leaving.User.Id), ""); code != http.StatusNotFound {
				t.Errorf("GET the deleted user: %d, want 404", code)
			}
			if code := authStatus(t, env, leavingToken.Secret); code != http.StatusUnauthorized {
				t.Errorf("the deleted user's token answers %d, want 401", code)
			}

			// Rename a tenant.
			tenantRow := fmt.Sprintf(`#tenants-table tr[data-client-id="%d"]`, tenant.Id)
			newName := "Renamed tenant " + w.name
			b.do(chromedp.Click(chromedp.CSS(`a[data-page="tenants"]`)), chromedp.WaitVisible(chromedp.CSS(tenantRow)))
			b.fits("tenants page")
			b.do(chromedp.Click(chromedp.CSS(tenantRow+` button[data-action="rename"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dialog[open] input[name="name"]`)))
			b.fits("rename dialog")
			b.do(chromedp.SetValue(chromedp.CSS(`dialog[open] input[name="name"]`), newName),
				chromedp.Click(chromedp.CSS(`dialog[open] button[type="submit"]`)),
				chromedp.WaitNotPresent(chromedp.CSS("dialog")),
				chromedp.WaitVisible(chromedp.Search(`//*[@id="tenants-table"]//*[text()="`+newName+`"]`)))
			got, err := api.GetClientWithResponse(ctx, tenant.Id)
			testenv.Must(t, err)
			if got.JSON200 == nil || got.JSON200.Name != newName {
				t.Errorf("after renaming in the console the API has %s", got.Body)
			}
			b.checkPage()
		})
	}
}

// TestSwaggerUIFromConsole: signed in to the console, the API reference
// opened from it in the same tab is already authorized with the console's
// session (taken from this tab's session storage: no cookie, nothing in
// local storage); the main scheme is listed first; the prefilled create
// example works as the signed-in user.
func TestSwaggerUIFromConsole(t *testing.T) {
	skipIfShort(t, "a browser test")
	env := testenv.New(t, browserBackend)
	admin := newPerson(t, env, env.Admin.Token, client.Admin, 0)
	b := newBrowserTab(t, env.URL, 1280, 900, 60*time.Second)
	b.do(chromedp.Navigate(env.URL + "/console"))
	b.signIn(admin)
	b.do(chromedp.Click(chromedp.ID("api-docs-link")), chromedp.WaitVisible(chromedp.CSS(".btn.authorize")))
	b.do(chromedp.WaitVisible(chromedp.CSS(".btn.authorize.locked")))

	// The Authorize dialog: X-WallarmApi-Token first, already authorized.
	b.do(chromedp.Click(chromedp.CSS(".btn.authorize")), chromedp.WaitVisible(chromedp.CSS(".modal-ux")))
	schemes := evalJS[[]string](b, `[...document.querySelectorAll(".modal-ux h4 code")].map(c => c.textContent)`)
	if len(schemes) == 0 || schemes[0] != "TokenHeader" {
		t.Errorf("the Authorize dialog lists %v, want TokenHeader (X-WallarmApi-Token) first", schemes)
	}
	if !strings.Contains(b.text(".modal-ux"), "Authorized") {
		t.Error("the Authorize dialog does not show TokenHeader as authorized")
	}
	b.do(chromedp.Click(chromedp.CSS(".modal-ux .btn-done")), chromedp.WaitNotPresent(chromedp.CSS(".modal-ux")))

	try := func(op string) (string, string) {
		b.do(
			chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
			chromedp.WaitVisible(chromedp.CSS(op+" .try-out__btn")),
			chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
			chromedp.WaitVisible(chromedp.CSS(op+" .execute")),
			chromedp.Click(chromedp.CSS(op+" .execute")),
			chromedp.WaitVisible(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")),
		)
		return strings.TrimSpace(b.text(op + " .live-responses-table tbody .response-col_status")),
			b.text(op + " .live-responses-table tbody .response-col_description pre")
	}
	if code, body := try("#operations-session-getCurrentUser"); code != "200" || !regexp.MustCompile(fmt.Sprintf(`"id":\s*%d\b`, admin.User.Id)).MatchString(body) {
		t.Errorf("GET /v2/user from the API reference: %s %s; want 200 as %s", code, body, admin.User.Email)
	}
	code, body := try("#operations-api_tokens-createToken")
	if code != "201" {
		t.Fatalf("the prefilled POST /v2/api_tokens answered %s, want 201:\n%s", code, body)
	}
	var made client.TokenWithSecret
	if err := json.Unmarshal([]byte(body), &made); err != nil {
		t.Fatalf("POST /v2/api_tokens body: %v\n%s", err, body)
	}
	if uid, _ := made.UserId.Get(); uid != admin.User.Id {
		t.Errorf("the example made a token for user %d, want the signed-in %d", uid, admin.User.Id)
	}
	if n := evalJS[int](b, `localStorage.length`); n != 0 {
		t.Errorf("the API reference left %d items in local storage", n)
	}
	if c := evalJS[string](b, `document.cookie`); c != "" {
		t.Errorf("the API reference set cookies: %q", c)
	}
	b.checkPage()
}

// TestREADMEScreenshots: every picture the README shows is in docs/img,
// small enough for a repository (make screenshots writes them).
func TestREADMEScreenshots(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	testenv.Must(t, err)
	shots := regexp.MustCompile(`\]\((docs/img/[^)]+\.png)\)`).FindAllStringSubmatch(string(readme), -1)
	if len(shots) < 3 {
		t.Fatalf("the README shows %d console screenshots, want the token list, the create dialog and a token's page", len(shots))
	}
	for _, m := range shots {
		fi, err := os.Stat(filepath.Join("..", m[1]))
		if err != nil {
			t.Errorf("the README shows %s: %v (make screenshots)", m[1], err)
			continue
		}
		if fi.Size() > 200<<10 {
			t.Errorf("%s is %d KB, keep it under 200 KB", m[1], fi.Size()>>10)
		}
	}
}
