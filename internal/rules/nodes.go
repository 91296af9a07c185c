package rules

import (
	"time"

	"github.com/tokend/tokend/internal/perm"
)

// NodeToken decides the token a filter node is registered with, the value
// Wallarm's node creation answers and Terraform keeps (its `token`): a
// shared token of the node's company (R5: it belongs to the company and
// outlives whoever registered the node) holding the Deploy role, which is
// what a node needs (nodes:view, nodes:create) and nothing more. It is an
// ordinary token decision (NewToken), so R1, R2 and R5 hold: the caller
// needs api_tokens:manage and must itself hold the Deploy permissions; its
// cap role is the creator's kind of administrator, and Deploy is inside
// either. company is the node's company, found in the caller's scope
// (nil: the caller's own).
func NodeToken(c *Caller, company *Client, hostname string, now time.Time) (*Token, []Event, error) {
	return NewToken(c, NewTokenRequest{
		Realname: "Node " + hostname, Permissions: []string{string(perm.RoleDeploy)},
		Enabled: true, Shared: true, Company: company,
	}, now)
}
