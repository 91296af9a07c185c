// list-tokens prints every token the caller may see, one page of 20 at a
// time, following next_cursor until the last page.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/tokend/tokend/examples/internal/connect"
	"github.com/tokend/tokend/gen/client"
)

func main() {
	c, err := connect.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	limit := client.Limit(20)
	params := &client.ListTokensParams{Limit: &limit}
	for {
		resp, err := c.ListTokensWithResponse(context.Background(), params)
		if err != nil {
			log.Fatal(err)
		}
		if resp.JSON200 == nil {
			log.Fatalf("list tokens: %d %s", resp.StatusCode(), resp.Body)
		}
		for _, t := range resp.JSON200.Items {
			fmt.Printf("%d\t%s\t%s\n", t.Id, t.Realname, t.Hint)
		}
		next, err := resp.JSON200.NextCursor.Get()
		if err != nil { // null: that was the last page
			return
		}
		params.Cursor = &next
	}
}
