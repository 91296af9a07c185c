// Command tokend runs the tokend API token service and its maintenance tasks.
// It only wires configuration, the store and the server together.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/willabides/kongplete"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// cli is the command line. Every setting is a flag and an environment
// variable; the flag wins.
type cli struct {
	Serve     serveCmd     `cmd:"" group:"server" help:"Migrate, bootstrap an empty database, and serve the API."`
	Migrate   migrateCmd   `cmd:"" group:"server" help:"Apply pending database migrations and exit."`
	Bootstrap bootstrapCmd `cmd:"" group:"server" help:"Create the first company, Global Administrator and API token."`
	Purge     purgeCmd     `cmd:"" group:"server" help:"Disable expired tokens and delete tokens disabled longer than the retention, once."`
	RotateKey rotateKeyCmd `cmd:"" group:"server" name:"rotate-key" help:"Re-encrypt every stored token value under a new key."`
	Version   versionCmd   `cmd:"" help:"Print the version."`

	// The client: these call a running server (tokend login, or TOKEND_URL and TOKEND_TOKEN).
	Login       loginCmd       `cmd:"" group:"client" help:"Sign in to a server (e-mail and password, or a token on standard input) and store the credential for the other commands."`
	Logout      logoutCmd      `cmd:"" group:"client" help:"Forget the stored credential of a server (a session is also ended on the server)."`
	Servers     serversCmd     `cmd:"" group:"client" help:"List the servers tokend login stored, or choose the current one."`
	Tokens      tokensCmd      `cmd:"" group:"client" help:"Manage API tokens on a running server."`
	Users       usersCmd       `cmd:"" group:"client" help:"Manage users on a running server."`
	Clients     clientsCmd     `cmd:"" group:"client" help:"Manage companies (clients, tenants) on a running server."`
	Whoami      whoamiCmd      `cmd:"" group:"client" help:"Show whom the token belongs to and what it may do (GET /v2/user)."`
	Permissions permissionsCmd `cmd:"" group:"client" help:"List the permission catalog and what each role grants (GET /v2/permissions)."`

	Completion completionCmd `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`
	Man        manCmd        `cmd:"" help:"Print the manual page (roff): tokend man > /usr/local/share/man/man1/tokend.1"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// kongExit carries an exit code requested by kong (--help) out of Parse.
type kongExit struct{ code int }

// run parses args, runs the command and returns the process exit code (the
// table in docs/CLI.md): 2 for every command-line error, whatever kong's
// own default.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = e.code
		}
	}()
	var c cli
	parser, err := newParser(&c, stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "tokend:", err)
		return exitInternal
	}
	// A shell asking for completions (COMP_LINE is set) is answered here.
	kongplete.Complete(parser, kongplete.WithExitFunc(func(code int) { panic(kongExit{code}) }))
	kctx, err := parser.Parse(args)
	if err != nil {
		var ec interface{ ExitCode() int }
		var pe *kong.ParseError
		if errors.As(err, &pe) || !errors.As(err, &ec) {
			// A command-line error (kong itself would exit 80).
			fmt.Fprintln(stderr, "tokend: error:", err)
			help := "tokend --help"
			if pe != nil && pe.Context != nil {
				if cmd := pe.Context.Command(); cmd != "" {
					help = "tokend " + commandPath(cmd) + " --help"
				}
			}
			fmt.Fprintf(stderr, "tokend: see '%s'\n", help)
			return exitUsage
		}
		fmt.Fprintln(stderr, "tokend:", err)
		return ec.ExitCode()
	}
	if err := kctx.Run(); err != nil {
		fmt.Fprintln(stderr, "tokend:", err)
		return exitCodeOf(err)
	}
	return exitOK
}

// newParser is kong's model of the command line, bound to the streams.
func newParser(c *cli, stdin io.Reader, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("tokend"),
		kong.Description("tokend: a self-hostable API token service, and its command-line client.\n\n"+
			"Client commands use the server and credential of tokend login, unless TOKEND_URL and TOKEND_TOKEN (or --url and --token) say otherwise. "+
			"Exit codes: 0 ok, 1 unexpected or server error, 2 usage, 3 authentication failed (401), "+
			"4 forbidden (403), 5 not found (404), 6 request rejected (400, 409, 413, 422), 7 server unreachable."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit{code}) }),
		kong.ExplicitGroups([]kong.Group{
			{Key: "server", Title: "Server commands (open the database directly):"},
			{Key: "client", Title: "Client commands (call a running server: tokend login, or TOKEND_URL and TOKEND_TOKEN):"},
		}),
		kong.Vars{"roles": roleEnum},
		kong.Bind(&stdio{in: stdin, out: stdout, err: stderr}),
		durationMapper,
	)
}

// commandPath drops the <arg> placeholders of a kong command path.
func commandPath(cmd string) string {
	var words []string
	for _, w := range strings.Fields(cmd) {
		if !strings.HasPrefix(w, "<") {
			words = append(words, w)
		}
	}
	return strings.Join(words, " ")
}

type versionCmd struct{}

func (versionCmd) Run(s *stdio) error {
	_, err := fmt.Fprintln(s.out, "tokend", version)
	return err
}
