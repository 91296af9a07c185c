package server_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tokend/tokend/gen/api"
	rulecore "github.com/tokend/tokend/internal/rules"
)

// The rule refusals are listed once in Go (rulecore.Refusals), once in the
// contract (the ProblemType enum, from which the SDK has its constants) and
// once in docs/RULES.md; this keeps the three equal, row for row.
func TestRefusalTypesAgree(t *testing.T) {
	t.Parallel()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	enum := map[string]bool{}
	for _, v := range spec.Components.Schemas["ProblemType"].Value.Enum {
		enum[strings.TrimPrefix(v.(string), "https://tokend.dev/problems/")] = true
	}
	status := map[rulecore.Kind]int{rulecore.Invalid: 400, rulecore.Forbidden: 403, rulecore.Hidden: 404, rulecore.Conflict: 409, rulecore.Throttled: 429}

	doc, err := os.ReadFile("../docs/RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	table := string(doc)
	table = table[strings.Index(table, "<!-- refusals:begin -->"):strings.Index(table, "<!-- refusals:end -->")]
	row := regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\| (\\S+) \\| (\\d+) \\|")
	documented := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		documented[m[1]] = [2]string{m[2], m[3]}
	}

	for _, r := range rulecore.Refusals {
		code := string(r.Code)
		if !enum[code] {
			t.Errorf("%s is not in openapi.yaml's ProblemType enum", code)
		}
		d, ok := documented[code]
		if !ok {
			t.Errorf("%s is not in docs/RULES.md's table", code)
			continue
		}
		if d[0] != r.Rule || d[1] != strconv.Itoa(status[r.Kind]) {
			t.Errorf("%s: docs say %s %s, the code %s %d", code, d[0], d[1], r.Rule, status[r.Kind])
		}
		delete(documented, code)
	}
	for code := range documented {
		t.Errorf("docs/RULES.md lists %s, which no rule answers", code)
	}
	protocol := []string{"validation", "bad-request", "not-found", "unauthorized", "conflict", "too-large",
		"unsupported-media-type", "method-not-allowed", "rate-limited", "unavailable", "read-only", "internal"}
	for code := range enum {
		if !slices.Contains(protocol, code) && !slices.ContainsFunc(rulecore.Refusals, func(r rulecore.RefusalType) bool { return string(r.Code) == code }) {
			t.Errorf("the ProblemType enum lists %s, which nothing answers", code)
		}
	}
}
