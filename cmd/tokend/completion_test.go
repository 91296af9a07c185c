package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The scripts hook each shell up to this binary, which answers COMP_LINE.
func TestCLICompletion(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, _ = filepath.Abs(bin)
	for shell, line := range map[string]string{
		"bash": "complete -o default -C " + shellQuote(bin) + " tokend\n",
		"zsh":  "complete -o default -C " + shellQuote(bin) + " tokend\n",
		"fish": "complete -f -c tokend -a \"(__complete_tokend)\"\n",
	} {
		r := tokend("", "completion", shell)
		want(t, r, exitOK, "completion "+shell)
		if !strings.Contains(r.out, line) || !strings.Contains(r.out, shellQuote(bin)) {
			t.Errorf("completion %s:\n%s", shell, r.out)
		}
	}
	want(t, tokend("", "completion", "powershell"), exitUsage, "completion of an unknown shell")
	if got := shellQuote("/tmp/it's here/tokend"); got != `'/tmp/it'\''s here/tokend'` {
		t.Errorf("shellQuote: %s", got)
	}

	// What the shell gets back on <Tab>: commands, subcommands, flags
	// (the group's connection flags too), enum values.
	for line, wantWords := range map[string][]string{
		"tokend tok":                      {"tokens"},
		"tokend lo":                       {"login", "logout"},
		"tokend tokens ve":                {"verify"},
		"tokend tokens list --sh":         {"--shared"},
		"tokend tokens list --ur":         {"--url"},
		"tokend users create --role part": {"partner_admin", "partner_analytic", "partner_auditor"},
		"tokend completion ":              {"bash", "fish", "zsh"},
		"tokend permissions ana":          {"analytic"},
	} {
		t.Setenv("COMP_LINE", line)
		t.Setenv("COMP_POINT", "")
		r := tokend("", "ignored because COMP_LINE is set")
		got := strings.Fields(r.out)
		slices.Sort(got)
		if r.code != exitOK || !slices.Equal(got, wantWords) {
			t.Errorf("COMP_LINE=%q: exit %d, %q, want %q (stderr %q)", line, r.code, got, wantWords, r.err)
		}
	}
}

// Mistyped commands and flags get a suggestion (kong's own), exit 2.
func TestCLIDidYouMean(t *testing.T) {
	t.Parallel()
	for args, hint := range map[string]string{
		"tokns list":            `did you mean "tokens"?`,
		"tokens lst":            `did you mean one of "list"`,
		"tokens list --sharde":  `did you mean "--shared"?`,
		"permisions":            `did you mean "permissions"?`,
		"users update 1 --emal": `did you mean "--email"?`,
	} {
		r := tokend("", strings.Fields(args)...)
		if r.code != exitUsage || !strings.Contains(r.err, hint) {
			t.Errorf("tokend %s: exit %d, stderr %q; want %q", args, r.code, r.err, hint)
		}
	}
}

// The manual page covers every command and is valid roff.
func TestCLIManPage(t *testing.T) {
	t.Parallel()
	r := tokend("", "man")
	want(t, r, exitOK, "man")
	if !strings.HasPrefix(r.out, ".TH TOKEND 1 ") {
		t.Fatalf("man starts with %q", r.out[:min(40, len(r.out))])
	}
	var c cli
	parser, err := newParser(&c, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range leafCommands(parser.Model.Node) {
		if !strings.Contains(r.out, ".SS \""+roff(commandSynopsis(n))+"\"\n") {
			t.Errorf("no section for %s", commandSynopsis(n))
		}
	}
	for _, s := range []string{`.SS "tokend tokens verify VALUE"`, `\fB\-\-with\-token\fR`, `\fB\-\-expire\-at\fR=\fIWHEN\fR (or \fB\-\-expires\fR)`,
		`[\fBTOKEND_URL\fR]`, ".SH EXIT STATUS", ".SH FILES"} {
		if !strings.Contains(r.out, s) {
			t.Errorf("man has no %s", s)
		}
	}
	if regexp.MustCompile(`(?m)^[.'][^A-Z\\]`).MatchString(r.out) {
		t.Errorf("a text line starts with a control character:\n%s", regexp.MustCompile(`(?m)^[.'][^A-Z\\].*$`).FindString(r.out))
	}
	// groff, where installed, renders it without a warning.
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Log("no groff: rendering not checked")
		return
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(r.out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
}
