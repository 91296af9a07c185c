// renew-token issues a new value for a token: renew-token ID [GRACE]. The
// old value stops working at once, or after GRACE (a Go duration, at most
// 24h) so that deployments can roll over.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/tokend/tokend/examples/internal/connect"
	"github.com/tokend/tokend/gen/client"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: renew-token ID [GRACE]")
	}
	id, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	var body client.RenewRequest
	if len(os.Args) > 2 {
		grace, err := time.ParseDuration(os.Args[2])
		if err != nil {
			log.Fatal(err)
		}
		seconds := int32(grace.Seconds())
		body.GracePeriodSeconds = &seconds
	}
	c, err := connect.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.RenewTokenWithResponse(context.Background(), id, body)
	if err != nil {
		log.Fatal(err)
	}
	if resp.JSON200 == nil {
		log.Fatalf("renew token %d: %d %s", id, resp.StatusCode(), resp.Body)
	}
	fmt.Println(resp.JSON200.Secret)
}
