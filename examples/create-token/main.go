// create-token creates a personal token that can read tokens, valid for 30
// days, and prints its id and its value (shown once: keep it).
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/examples/internal/connect"
	"github.com/tokend/tokend/gen/client"
)

func main() {
	c, err := connect.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.CreateTokenWithResponse(context.Background(), client.TokenCreate{
		Realname:    "CI pipeline",
		Permissions: client.PermissionList{"api_tokens:view"},
		ExpireAt:    nullable.NewNullableWithValue(time.Now().Add(30 * 24 * time.Hour)),
	})
	if err != nil {
		log.Fatal(err)
	}
	if resp.JSON201 == nil {
		log.Fatalf("create token: %d %s", resp.StatusCode(), resp.Body)
	}
	fmt.Println(resp.JSON201.Id, resp.JSON201.Secret)
}
