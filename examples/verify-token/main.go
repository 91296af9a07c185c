// verify-token is another team's HTTP service that accepts tokend tokens:
// for each request it asks tokend (POST /v2/api_tokens/verify, with its own
// service token holding api_tokens:verify) whether the caller's token is
// active and grants the permission this service needs.
//
//	TOKEND_TOKEN=<service token> verify-token -listen 127.0.0.1:9090 -permission nodes:view
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/tokend/tokend/examples/internal/connect"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9090", "address to serve on")
	permission := flag.String("permission", "nodes:view", "the permission a caller's token must grant")
	flag.Parse()
	c, err := connect.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving on http://%s, requiring %s", *listen, *permission)
	log.Fatal(http.ListenAndServe(*listen, Guard(c, *permission, http.HandlerFunc(hello))))
}

func hello(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte("hello, token " + r.Header.Get("X-Token-Id") + "\n"))
}
