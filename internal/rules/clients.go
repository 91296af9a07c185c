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

// NewTenantUnder is NewTenant for a caller that names its partner, as
// Wallarm's tenant creation does (partner_uuid): a top-level technical
// tenant is its own partner (PartnerOf), so the only partner a caller may
// name is its own company; empty means that one (R18).
func NewTenantUnder(c *Caller, partnerUUID, uuid, name string, now time.Time) (*Client, []Event, error) {
	if partnerUUID != "" && partnerUUID != c.Client.UUID {
		return nil, nil, refuse(CodeTenantParent, "tenants are created under your own technical tenant: partner_uuid must be its UUID, or empty (R18)")
	}
	return NewTenant(c, uuid, name, now)
}

// PartnerOf is the partner's technical tenant a company belongs to, as
// Wallarm names it (partnerid, partner_uuid): a top-level company is its
// own partner, a tenant's partner is its parent. parent is the tenant's
// parent row (nil for a top-level company).
func PartnerOf(c *Client, parent *Client) (id int64, uuid string) {
	if c.ParentID == nil || parent == nil {
		return c.ID, c.UUID
	}
	return parent.ID, parent.UUID
}

// CompanyContents is what goes with a company when it is deleted, as the
// store counted it under lock: the activity log records the counts.
type CompanyContents struct {
	Users, Tokens, Nodes int
}

// DeleteClient decides a company deletion (R18): only a partner's tenant,
// never one's own company, and only once it is disabled — disabling stops
// every credential of it at once and can be undone (ChangeClient); the
// delete cannot. Everything of the tenant goes with it in the same
// transaction: its users with their sessions and personal tokens (R11),
// its shared tokens (R5), the personal tokens other users hold for it (a
// Global Administrator's, R21), its nodes and webhooks. The activity log
// keeps its lines, and the deletion is one more, in the partner's log.
func DeleteClient(c *Caller, target Client, contents CompanyContents) ([]Event, error) {
	if target.ID == c.Client.ID {
		return nil, refuse(CodeSelfLockout, "you cannot delete your own company")
	}
	if !target.IsTenant() {
		return nil, refuse(CodeTenantParent, "only a partner's tenants can be deleted (R18)")
	}
	if target.Enabled {
		return nil, refuse(CodeClientEnabled, "disable the company first; deleting it cannot be undone")
	}
	t := target
	return []Event{ClientDeleted{Client: &t, Contents: contents}}, nil
}
