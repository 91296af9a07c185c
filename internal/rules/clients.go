package rules

import "time"

// NewTenant decides a tenant creation (R18): a Global Administrator of a
// top-level technical tenant links a new tenant to it.
func NewTenant(c *Caller, uuid, name string, now time.Time) (*Client, []Event, error) {
	if !c.Role.Global() || c.Client.IsTenant() {
		return nil, nil, refuse(CodeTenantParent, "tenants are created by a Global Administrator of a technical tenant (R18)")
	}
	parent := c.Client.ID
	t := &Client{UUID: uuid, Name: name, Enabled: true, ParentID: &parent, CreatedAt: now, UpdatedAt: now}
	return t, []Event{ClientCreated{Client: t}}, nil
}

// ClientChange is an update of a company; nil fields stay.
type ClientChange struct {
	Name    *string
	Enabled *bool
	// RateSet says rate_limit was in the request: the default rate limit
	// of the company's tokens (zero: none).
	RateSet   bool
	RateLimit RateLimit
}

// ChangeClient decides a company update in scope. Disabling a company stops
// every credential of it at once (Admit); its tokens keep their own state
// and work again when it is re-enabled. Nobody disables their own company.
func ChangeClient(c *Caller, target Client, ch ClientChange, now time.Time) (*Client, []Event, error) {
	cl := &target
	var fields []string
	if ch.Name != nil && *ch.Name != cl.Name {
		cl.Name = *ch.Name
		fields = append(fields, "name")
	}
	if ch.Enabled != nil && *ch.Enabled != cl.Enabled {
		if !*ch.Enabled && cl.ID == c.Client.ID {
			return nil, nil, refuse(CodeSelfLockout, "you cannot disable your own company")
		}
		cl.Enabled = *ch.Enabled
		fields = append(fields, "enabled")
	}
	if ch.RateSet && !sameRate(cl.RateLimit, ch.RateLimit) {
		cl.RateLimit = ch.RateLimit
		fields = append(fields, "rate_limit")
	}
	if len(fields) == 0 {
		return cl, nil, nil
	}
	cl.UpdatedAt = now
	return cl, []Event{ClientChanged{Client: cl, Fields: fields}}, nil
}
