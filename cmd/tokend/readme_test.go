package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/testenv"
)

// TestREADMEWalkthrough runs every `go run ./cmd/tokend …` line of the
// README's "Using tokend" section, in order, against a fresh server (as
// after `make run`, with TOKEND_URL and TOKEND_TOKEN exported as the
// README says), so the walk-through cannot drift from the CLI. Each line
// must exit 0; a comment that starts with column names (ID NAME …) must
// be the header the command prints.
func TestREADMEWalkthrough(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	testenv.Must(t, err)
	section := string(readme)
	start := strings.Index(section, "\n## Using tokend")
	if start < 0 {
		t.Fatal(`README.md has no "## Using tokend" section`)
	}
	section = section[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}

	env := testenv.New(t, testenv.Backends(t)[0])
	t.Setenv("TOKEND_URL", env.URL)
	t.Setenv("TOKEND_TOKEN", env.Admin.Token)
	config := filepath.Join(t.TempDir(), "config.json")
	t.Setenv("TOKEND_CONFIG", config)
	vars := map[string]string{"TOKEND_URL": env.URL, "TOKEND_TOKEN": env.Admin.Token}

	ran := 0
	for _, block := range shellBlocks(section) {
		for _, line := range strings.Split(block, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "go run ./cmd/tokend ") {
				continue // curl, export $(…) and the like: the walk-through's environment stands in for them
			}
			words, comment := shellWords(t, line, vars)
			if len(words) < 3 || strings.Join(words[:3], " ") != "go run ./cmd/tokend" {
				continue
			}
			ran++
			stdin := ""
			var r cliResult
			for _, cmd := range splitPipeline(words) {
				args := cmd[3:]
				if i := indexOf(args, "<<<"); i >= 0 && i+1 < len(args) {
					stdin = args[i+1] + "\n"
					args = append(args[:i:i], args[i+2:]...)
				}
				r = tokend(stdin, args...)
				if r.code != exitOK {
					t.Fatalf("README: %s\nexit %d\nstdout: %s\nstderr: %s", line, r.code, r.out, r.err)
				}
				stdin = r.out
			}
			if header := strings.Fields(comment); len(header) > 1 && header[0] == "ID" {
				got := strings.Fields(strings.SplitN(r.out, "\n", 2)[0])
				if strings.Join(got, " ") != strings.Join(header, " ") {
					t.Errorf("README: %s\nprints the header %q, the comment says %q", line, got, header)
				}
			}
		}
	}
	if ran < 8 {
		t.Fatalf("only %d tokend lines found in the README's walk-through", ran)
	}
	// The environment won over the login all along; the login itself
	// must work for a shell without TOKEND_TOKEN (logout is the last line:
	// log in again the same way).
	want(t, tokend(env.Admin.Token, "login", "--with-token"), exitOK, "login")
	t.Setenv("TOKEND_TOKEN", "")
	want(t, tokend("", "whoami"), exitOK, "whoami with the README's login and no TOKEND_TOKEN")
}

// shellBlocks returns the contents of the ```sh blocks of markdown.
func shellBlocks(md string) []string {
	var out []string
	for {
		i := strings.Index(md, "```sh\n")
		if i < 0 {
			return out
		}
		md = md[i+len("```sh\n"):]
		j := strings.Index(md, "```")
		if j < 0 {
			return out
		}
		out = append(out, md[:j])
		md = md[j:]
	}
}

// shellWords splits one line as sh would, enough for the README: single
// and double quotes, $VAR and "$VAR" from vars, | and <<< as words of
// their own, and a # comment (returned apart).
func shellWords(t *testing.T, line string, vars map[string]string) (words []string, comment string) {
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	expand := func(s string, i int) int { // at '$': the variable's value
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		v, ok := vars[s[i+1:j]]
		if !ok {
			t.Fatalf("README: %s: no value for $%s", line, s[i+1:j])
		}
		cur.WriteString(v)
		return j
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
			i++
		case c == '#' && !inWord:
			return words, strings.TrimSpace(line[i+1:])
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				t.Fatalf("README: unbalanced quote in %s", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			inWord, i = true, i+j+2
		case c == '"':
			inWord, i = true, i+1
			for i < len(line) && line[i] != '"' {
				if line[i] == '$' {
					i = expand(line, i)
				} else {
					cur.WriteByte(line[i])
					i++
				}
			}
			i++
		case c == '$':
			inWord, i = true, expand(line, i)
		case c == '|' && !inWord:
			flush()
			words, i = append(words, "|"), i+1
		case strings.HasPrefix(line[i:], "<<<") && !inWord:
			flush()
			words, i = append(words, "<<<"), i+3
		default:
			cur.WriteByte(c)
			inWord, i = true, i+1
		}
	}
	flush()
	return words, ""
}

func splitPipeline(words []string) [][]string {
	var out [][]string
	for {
		i := indexOf(words, "|")
		if i < 0 {
			return append(out, words)
		}
		out, words = append(out, words[:i]), words[i+1:]
	}
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}
