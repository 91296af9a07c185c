package console

import (
	"bytes"
	"html/template"
	"regexp"
	"strings"

	"github.com/tokend/tokend/docs"
	"github.com/tokend/tokend/internal/rules"
)

// The rules page (prefix + "/rules") says, for every way a rule can refuse
// a request, what the refusal means: the console links each refusal it
// shows to its entry (#<code>), so "(R2)" is never all a user reads. The
// problem type URIs (https://tokend.dev/problems/<code>) name the same
// codes; this page is their documentation as served by the binary, which
// works where the deployment has no internet access. It is static HTML
// (no script), readable without signing in.

// refusalDoc is one entry of the page.
type refusalDoc struct {
	Code, Rule, Title string
	Status            string
	When              template.HTML
}

// refusalRow matches a row of docs/RULES.md's refusal table:
// | `code` | R2 | 403 | when |
var refusalRow = regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\| (\\S+) \\| (\\d+) \\| (.+) \\|$")

// refusalDocs joins rules.Refusals (code, rule, title) with the "when"
// column of docs/RULES.md, in the table's order.
func refusalDocs() []refusalDoc {
	table := docs.Rules
	begin, end := strings.Index(table, "<!-- refusals:begin -->"), strings.Index(table, "<!-- refusals:end -->")
	if begin < 0 || end < begin {
		panic("console: docs/RULES.md has no refusals table")
	}
	when := map[string][2]string{}
	for _, m := range refusalRow.FindAllStringSubmatch(table[begin:end], -1) {
		when[m[1]] = [2]string{m[3], m[4]}
	}
	out := make([]refusalDoc, 0, len(rules.Refusals))
	for _, r := range rules.Refusals {
		w := when[string(r.Code)]
		out = append(out, refusalDoc{Code: string(r.Code), Rule: r.Rule, Title: r.Title, Status: w[0], When: inlineCode(w[1])})
	}
	return out
}

// inlineCode renders Markdown's `code` spans and escapes everything else.
func inlineCode(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(part))
		}
	}
	return template.HTML(b.String())
}

var rulesTemplate = template.Must(template.ParseFS(files, "assets/rules.html"))

func renderRules(css, icon, home string) []byte {
	var buf bytes.Buffer
	err := rulesTemplate.Execute(&buf, struct {
		CSS, Icon, Home string
		Refusals        []refusalDoc
	}{css, icon, home, refusalDocs()})
	if err != nil {
		panic("console: rules.html: " + err.Error())
	}
	return buf.Bytes()
}
