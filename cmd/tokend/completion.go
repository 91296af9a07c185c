package main

// Shell completion and the manual page, both made from kong's model of
// the command line, so that neither can fall behind a new command or flag.
//
// Completion is kongplete's (posener/complete underneath): the shell runs
// tokend itself with COMP_LINE set on every <Tab>, and run() answers
// before parsing. `tokend completion SHELL` prints the few lines that hook
// a shell up to it.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// The hooks, as kongplete's own installer writes them; ${bin} is this
// binary's absolute path, which the shell runs to complete.
var completionScripts = map[string]string{
	"bash": `# tokend completion for bash: source <(tokend completion bash), or add that line to ~/.bashrc
complete -o default -C ${bin} tokend
`,
	"zsh": `# tokend completion for zsh: source <(tokend completion zsh), or add that line to ~/.zshrc
autoload -U +X bashcompinit && bashcompinit
complete -o default -C ${bin} tokend
`,
	"fish": `# tokend completion for fish: tokend completion fish > ~/.config/fish/completions/tokend.fish
function __complete_tokend
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    ${bin}
end
complete -f -c tokend -a "(__complete_tokend)"
`,
}

func (c *completionCmd) Run(s *stdio) error {
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.Abs(bin)
	}
	if err != nil {
		return fmt.Errorf("cannot find this binary's path, which the shell runs to complete: %w", err)
	}
	if strings.Contains(bin, string(filepath.Separator)+"go-build") {
		fmt.Fprintln(s.err, "tokend: warning: this is a go run binary, deleted when it exits: install tokend (go install ./cmd/tokend) and run its completion command")
	}
	script := os.Expand(completionScripts[c.Shell], func(v string) string {
		if v == "bin" {
			return shellQuote(bin)
		}
		return "$" + v
	})
	_, err = fmt.Fprint(s.out, script)
	return err
}

// shellQuote quotes a path for sh, zsh and fish alike when it needs it.
func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// man: the manual page, in roff, from the same model as --help.

type manCmd struct{}

func (manCmd) Run(kctx *kong.Context, s *stdio) error {
	_, err := fmt.Fprint(s.out, manPage(kctx.Model))
	return err
}

// manPage renders tokend(1). It is printed, not shipped as a file: a file
// would need a generator and a check that it was run; this page is always
// the binary's own (`tokend man > /usr/local/share/man/man1/tokend.1`).
func manPage(app *kong.Application) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH TOKEND 1 \"\" \"tokend %s\" \"User Commands\"\n", roff(version))
	b.WriteString(".SH NAME\ntokend \\- a self-hostable API token service, and its command-line client\n")
	b.WriteString(".SH SYNOPSIS\n.B tokend\n.I command\n.RI [ flags ]\n")
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString(roffText("The tokend binary is the server (serve, migrate, bootstrap, purge, rotate-key) and a client of a running " +
		"server: the client commands call its HTTP API with a token, exactly as any other caller would. " +
		"Sign in once with tokend login, or give TOKEND_URL and TOKEND_TOKEN."))
	b.WriteString(".SH COMMANDS\n")
	for _, n := range leafCommands(app.Node) {
		fmt.Fprintf(&b, ".SS \"%s\"\n", roff(commandSynopsis(n)))
		b.WriteString(roffText(n.Help))
		if n.Detail != "" {
			b.WriteString(roffText(n.Detail))
		}
		for _, p := range n.Positional {
			fmt.Fprintf(&b, ".TP\n.I %s\n%s", roff(p.Name), roffText(p.Help))
		}
		for _, f := range commandFlags(n) {
			fmt.Fprintf(&b, ".TP\n%s\n%s", flagSynopsis(f), roffText(f.Help))
		}
	}
	b.WriteString(".SH ENVIRONMENT\n")
	for _, e := range [][2]string{
		{"TOKEND_URL", "The server of the client commands (--url); default: the current server of tokend login, else http://127.0.0.1:8080."},
		{"TOKEND_TOKEN", "The token of the client commands (--token); default: the one tokend login stored for the server."},
		{"TOKEND_CONFIG", "The file of tokend login (--config)."},
		{"TOKEND_DATABASE_URL", "The database of the server commands (--database-url); tokend serve --help lists the server's settings."},
	} {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s", e[0], roffText(e[1]))
	}
	b.WriteString(".SH FILES\n.TP\n.I ~/.config/tokend/config.json\n")
	b.WriteString(roffText("Servers and credentials stored by tokend login (mode 0600), in the user's configuration directory " +
		"($XDG_CONFIG_HOME on Linux, ~/Library/Application Support on macOS, %AppData% on Windows)."))
	b.WriteString(".SH EXIT STATUS\n")
	for _, e := range [][2]string{
		{"0", "Success."},
		{"1", "Unexpected: a 5xx or 429 answer, an answer the client does not understand, a local I/O error; any failure of the server commands."},
		{"2", "Usage: unknown command or flag, missing or malformed argument; nothing was sent."},
		{"3", "Authentication failed (401)."},
		{"4", "Forbidden (403)."},
		{"5", "Not found (404), including objects the caller may not see."},
		{"6", "The request was rejected: 400, 409, 413, 422."},
		{"7", "The server could not be reached."},
	} {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s", e[0], roffText(e[1]))
	}
	b.WriteString(".SH SEE ALSO\n")
	b.WriteString(roffText("docs/CLI.md and docs/RULES.md in the tokend repository; the Swagger UI at /api-docs of a running server."))
	return b.String()
}

// leafCommands lists the commands that run, depth first, in model order.
func leafCommands(n *kong.Node) []*kong.Node {
	var out []*kong.Node
	for _, c := range n.Children {
		if c.Hidden {
			continue
		}
		if len(c.Children) == 0 {
			out = append(out, c)
			continue
		}
		out = append(out, leafCommands(c)...)
	}
	return out
}

func commandSynopsis(n *kong.Node) string {
	s := "tokend " + commandPath(n.Path())
	for _, p := range n.Positional {
		if p.Required {
			s += " " + strings.ToUpper(p.Name)
		} else {
			s += " [" + strings.ToUpper(p.Name) + "]"
		}
	}
	return s
}

// commandFlags are a command's flags and its parents' (the connection
// flags live on the command groups), sorted, without --help.
func commandFlags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for _, group := range n.AllFlags(true) {
		for _, f := range group {
			if f.Name != "help" {
				out = append(out, f)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func flagSynopsis(f *kong.Flag) string {
	s := "\\fB\\-\\-" + roff(f.Name) + "\\fR"
	if f.Short != 0 {
		s = "\\fB\\-" + string(f.Short) + "\\fR, " + s
	}
	if !f.IsBool() && !f.IsCounter() {
		s += "=\\fI" + roff(f.FormatPlaceHolder()) + "\\fR"
	}
	for _, alias := range f.Aliases {
		s += " (or \\fB\\-\\-" + roff(alias) + "\\fR)"
	}
	if f.Tag.Negatable != "" {
		s += " (or \\fB\\-\\-no\\-" + roff(f.Name) + "\\fR)"
	}
	if len(f.Envs) > 0 {
		s += " [\\fB" + roff(strings.Join(f.Envs, ", ")) + "\\fR]"
	}
	return s
}

// roff escapes text inside a roff line: backslashes, minus signs (which
// roff would hyphenate), and every non-ASCII character as \[uXXXX], which
// groff and mandoc both read whatever the locale.
func roff(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// roffText is a paragraph: escaped, no line starting with a control
// character, ending in a newline.
func roffText(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		l = roff(l)
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n") + "\n"
}
