// read-secret prints a token's value again: read-secret ID. Only the owner
// of a personal token (or a manager, for a shared one) may; a deployment in
// show-once mode answers 404.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"

	"github.com/tokend/tokend/examples/internal/connect"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: read-secret ID")
	}
	id, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	c, err := connect.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.GetTokenSecretWithResponse(context.Background(), id)
	if err != nil {
		log.Fatal(err)
	}
	if resp.JSON200 == nil {
		log.Fatalf("read secret of %d: %d %s", id, resp.StatusCode(), resp.Body)
	}
	fmt.Println(resp.JSON200.Secret)
}
