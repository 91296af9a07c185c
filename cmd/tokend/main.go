// Command tokend runs the tokend API token service and its maintenance tasks.
// It only wires configuration, the store and the server together.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// cli is the command line. Every setting is a flag and an environment
// variable; the flag wins.
type cli struct {
	Serve     serveCmd     `cmd:"" help:"Migrate, bootstrap an empty database, and serve the API."`
	Migrate   migrateCmd   `cmd:"" help:"Apply pending database migrations and exit."`
	Bootstrap bootstrapCmd `cmd:"" help:"Create the first company, Global Administrator and API token."`
	Purge     purgeCmd     `cmd:"" help:"Disable expired tokens and delete tokens disabled longer than the retention, once."`
	RotateKey rotateKeyCmd `cmd:"" name:"rotate-key" help:"Re-encrypt every stored token value under a new key."`
	Version   versionCmd   `cmd:"" help:"Print the version."`
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("tokend"),
		kong.Description("tokend: a self-hostable API token service."),
		kong.UsageOnError(),
	)
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "tokend:", err)
		os.Exit(1)
	}
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("tokend", version)
	return nil
}
