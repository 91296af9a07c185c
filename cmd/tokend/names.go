package main

import (
	"strconv"

	"github.com/tokend/tokend/gen/client"
)

// People recognise e-mail addresses and company names, not ids. Text
// output looks them up through the API — a handful of requests per
// invocation at most, each answer kept for the rest of it — and falls
// back to the id when the caller may not see the user or company (a
// token without users:view, say). -o json prints the API's ids untouched.

// lookupOneByOne is how many unknown ids are fetched one by one; more
// than that, and one list request is cheaper.
const lookupOneByOne = 3

// nameCache is what one invocation learnt: id → e-mail or name, "" when
// the lookup failed (so that it is not tried again).
type nameCache struct {
	meTried bool
	users   map[int64]string
	clients map[int64]string
}

// learnMe asks GET /v2/user once: it names the caller and its company for
// free, which is all most listings need.
func (a *api) learnMe() {
	if a.names.meTried {
		return
	}
	a.names.meTried = true
	r, err := a.c.GetCurrentUserWithResponse(a.ctx)
	if err != nil || r.JSON200 == nil {
		return
	}
	a.rememberMe(r.JSON200)
}

func (a *api) rememberMe(me *client.CurrentUser) {
	a.names.meTried = true
	if me.Id != 0 && me.Email != "" {
		a.rememberUser(me.Id, me.Email)
	}
	a.rememberClient(me.ClientId, me.ClientName)
}

func (a *api) rememberUser(id int64, email string) {
	if a.names.users == nil {
		a.names.users = map[int64]string{}
	}
	a.names.users[id] = email
}

func (a *api) rememberClient(id int64, name string) {
	if a.names.clients == nil {
		a.names.clients = map[int64]string{}
	}
	a.names.clients[id] = name
}

// unknown returns the ids (deduplicated, 0 skipped) that m lacks.
func unknown(m map[int64]string, ids []int64) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, id := range ids {
		if _, ok := m[id]; !ok && id != 0 && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// lookupUsers learns the e-mail addresses of ids.
func (a *api) lookupUsers(ids []int64) {
	if len(unknown(a.names.users, ids)) > 0 {
		a.learnMe()
	}
	missing := unknown(a.names.users, ids)
	if len(missing) > lookupOneByOne {
		limit := int32(1000)
		if r, err := a.c.ListUsersWithResponse(a.ctx, &client.ListUsersParams{Limit: &limit}); err == nil && r.JSON200 != nil {
			for _, u := range r.JSON200.Items {
				a.rememberUser(u.Id, u.Email)
			}
		}
		missing = unknown(a.names.users, ids)
	}
	for i, id := range missing {
		email := ""
		if i < lookupOneByOne {
			if r, err := a.c.GetUserWithResponse(a.ctx, id); err == nil && r.JSON200 != nil {
				email = r.JSON200.Email
			}
		}
		a.rememberUser(id, email)
	}
}

// lookupClients learns the names of companies ids.
func (a *api) lookupClients(ids []int64) {
	if len(unknown(a.names.clients, ids)) > 0 {
		a.learnMe()
	}
	missing := unknown(a.names.clients, ids)
	if len(missing) > lookupOneByOne {
		limit := int32(1000)
		if r, err := a.c.ListClientsWithResponse(a.ctx, &client.ListClientsParams{Limit: &limit}); err == nil && r.JSON200 != nil {
			for _, c := range r.JSON200.Items {
				a.rememberClient(c.Id, c.Name)
			}
		}
		missing = unknown(a.names.clients, ids)
	}
	for i, id := range missing {
		name := ""
		if i < lookupOneByOne {
			if r, err := a.c.GetClientWithResponse(a.ctx, id); err == nil && r.JSON200 != nil {
				name = r.JSON200.Name
			}
		}
		a.rememberClient(id, name)
	}
}

// userName is a user's e-mail, else "user ID".
func (a *api) userName(id int64) string {
	a.lookupUsers([]int64{id})
	if email := a.names.users[id]; email != "" {
		return email
	}
	return "user " + strconv.FormatInt(id, 10)
}

// clientName is a company's name, else "company ID".
func (a *api) clientName(id int64) string {
	a.lookupClients([]int64{id})
	if name := a.names.clients[id]; name != "" {
		return name
	}
	return "company " + strconv.FormatInt(id, 10)
}

// userWithID and clientWithID are for detail views, which show both.
func (a *api) userWithID(id int64) string {
	if name := a.userName(id); name != "user "+strconv.FormatInt(id, 10) {
		return name + " (user " + strconv.FormatInt(id, 10) + ")"
	}
	return "user " + strconv.FormatInt(id, 10)
}

func (a *api) clientWithID(id int64) string {
	if name := a.clientName(id); name != "company "+strconv.FormatInt(id, 10) {
		return name + " (company " + strconv.FormatInt(id, 10) + ")"
	}
	return "company " + strconv.FormatInt(id, 10)
}
