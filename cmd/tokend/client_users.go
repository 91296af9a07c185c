package main

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/tokend/tokend/gen/client"
)

const roleEnum = "admin,analytic,api_developer,auditor,deploy,partner_admin,partner_analytic,partner_auditor"

// whoami: GET /v2/user

type whoamiCmd struct {
	clientFlags
}

func (c *whoamiCmd) Run(a *api) error {
	r, err := a.c.GetCurrentUserWithResponse(a.ctx)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(r.Body)
	}
	u := r.JSON200
	if u == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no user"}
	}
	return a.fields(describeMe(u))
}

// describeMe is whoami's view of the caller.
func describeMe(u *client.CurrentUser) [][2]string {
	credential := "session"
	if id := ni(u.TokenId); id != nil {
		credential = "API token " + strconv.FormatInt(*id, 10)
	}
	user := strconv.FormatInt(u.Id, 10)
	if u.Id == 0 {
		user = "Shared (a company token)"
	}
	return [][2]string{
		{"User", user},
		{"Email", orDash(u.Email)},
		{"Name", u.Realname},
		{"Role", string(u.Role)},
		{"Company", fmt.Sprintf("%s (company %d)", u.ClientName, u.ClientId)},
		{"Credential", credential},
		{"Permissions", orDash(groupPermissions(u.Permissions))},
	}
}

// users: /v2/users

type usersCmd struct {
	clientFlags

	List   usersListCmd   `cmd:"" help:"List the users in your scope."`
	Create usersCreateCmd `cmd:"" help:"Create a user."`
	Get    usersGetCmd    `cmd:"" help:"Show one user."`
	Update usersUpdateCmd `cmd:"" help:"Change a user's e-mail, name, role, state or password (R11, R12, R17)."`
	Delete usersDeleteCmd `cmd:"" help:"Delete a user and its personal tokens (R11)."`
}

type userID struct {
	ID int64 `arg:"" name:"id" help:"User id."`
}

var userHeader = []string{"ID", "EMAIL", "NAME", "ROLE", "COMPANY", "STATUS", "SSO", "CREATED"}

func (a *api) userRow(u client.User) []string {
	return []string{strconv.FormatInt(u.Id, 10), u.Email, u.Realname, string(u.Role),
		a.clientName(u.ClientId), enabledWord(u.Enabled), yesNo(u.Sso), fmtTime(u.CreatedAt)}
}

// prepareUsers remembers the page's e-mails and looks its companies up.
func (a *api) prepareUsers(us []client.User) {
	ids := make([]int64, 0, len(us))
	for _, u := range us {
		a.rememberUser(u.Id, u.Email)
		ids = append(ids, u.ClientId)
	}
	a.lookupClients(ids)
}

func (a *api) showUser(body []byte, u *client.User) error {
	if a.json {
		return a.printJSON(body)
	}
	if u == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no user"}
	}
	return a.fields([][2]string{
		{"ID", strconv.FormatInt(u.Id, 10)},
		{"UUID", u.Uuid.String()},
		{"Email", u.Email},
		{"Name", u.Realname},
		{"Role", string(u.Role)},
		{"Company", a.clientWithID(u.ClientId)},
		{"Status", enabledWord(u.Enabled)},
		{"SSO", yesNo(u.Sso)},
		{"API access", yesNo(u.ApiAccess)},
		{"Created", fmtTime(u.CreatedAt)},
		{"Updated", fmtTime(u.UpdatedAt)},
	})
}

type usersListCmd struct {
	listOpts
	ClientID int64  `name:"client-id" help:"Only the users of this company."`
	Role     string `name:"role" enum:",${roles}" default:"" placeholder:"ROLE" help:"Only users with this role."`
	Enabled  bool   `name:"enabled" xor:"enabled" help:"Only enabled users."`
	Disabled bool   `name:"disabled" xor:"enabled" help:"Only disabled users."`
	Search   string `name:"search" help:"Case-insensitive substring of the name or e-mail."`
}

func (c *usersListCmd) Run(a *api) error {
	params := client.ListUsersParams{Limit: c.limit(), Enabled: boolFilter(c.Enabled, c.Disabled)}
	if c.ClientID != 0 {
		params.ClientId = &c.ClientID
	}
	if c.Role != "" {
		params.Role = ptr(client.Role(c.Role))
	}
	if c.Search != "" {
		params.Q = &c.Search
	}
	items, next, err := a.list(&c.listOpts, func(cursor *string) (*http.Response, []byte, error) {
		p := params
		p.Cursor = cursor
		r, err := a.c.ListUsersWithResponse(a.ctx, &p)
		if err != nil {
			return nil, nil, err
		}
		return r.HTTPResponse, r.Body, nil
	})
	if err != nil {
		return err
	}
	return printList(a, "users", items, next, userHeader, a.prepareUsers, a.userRow)
}

type usersCreateCmd struct {
	Email         string `name:"email" required:"" help:"E-mail address (unique; the sign-in name)."`
	Name          string `name:"name" required:"" help:"The person's name."`
	Role          string `name:"role" required:"" enum:"${roles}" placeholder:"ROLE" help:"Role: ${roles}."`
	PasswordStdin bool   `name:"password-stdin" help:"Read an initial password from standard input (without one the user cannot sign in with a password)."`
	ClientID      int64  `name:"client-id" help:"The company; default: yours."`
	Disabled      bool   `name:"disabled" help:"Create the user disabled."`
	SSO           bool   `name:"sso" help:"An SSO user (cannot sign in with a password)."`
	APIAccess     *bool  `name:"api-access" negatable:"" help:"For SSO users: may hold and use API tokens (R16)."`
}

func (c *usersCreateCmd) Run(a *api) error {
	body := client.UserCreate{Email: c.Email, Realname: c.Name, Role: client.Role(c.Role), ApiAccess: c.APIAccess}
	if c.PasswordStdin {
		pw, err := readPassword(a.io.in)
		if err != nil {
			return err
		}
		body.Password = &pw
	}
	if c.ClientID != 0 {
		body.ClientId = &c.ClientID
	}
	if c.Disabled {
		body.Enabled = ptr(false)
	}
	if c.SSO {
		body.Sso = ptr(true)
	}
	r, err := a.c.CreateUserWithResponse(a.ctx, body)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showUser(r.Body, r.JSON201)
}

type usersGetCmd struct{ userID }

func (c *usersGetCmd) Run(a *api) error {
	r, err := a.c.GetUserWithResponse(a.ctx, c.ID)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showUser(r.Body, r.JSON200)
}

type usersUpdateCmd struct {
	userID
	Email         string `name:"email" help:"New e-mail address, the sign-in name (must be free: else 409)."`
	Name          string `name:"name" help:"New name."`
	Role          string `name:"role" enum:",${roles}" default:"" placeholder:"ROLE" help:"New role (tokens lose what the new role does not grant, R12)."`
	Enable        bool   `name:"enable" xor:"enable" help:"Enable the user (its tokens stay disabled, R11)."`
	Disable       bool   `name:"disable" xor:"enable" help:"Disable the user and all its personal tokens (R11)."`
	SSO           *bool  `name:"sso" negatable:"" help:"Make it an SSO user (--no-sso: a password user)."`
	APIAccess     *bool  `name:"api-access" negatable:"" help:"For SSO users: may hold and use API tokens (R16)."`
	PasswordStdin bool   `name:"password-stdin" help:"Set a new password, read from standard input."`
}

func (c *usersUpdateCmd) Run(a *api) error {
	body := client.UserUpdate{Enabled: boolFilter(c.Enable, c.Disable), Sso: c.SSO, ApiAccess: c.APIAccess}
	if c.Email != "" {
		body.Email = ptr(client.Email(c.Email))
	}
	if c.Name != "" {
		body.Realname = &c.Name
	}
	if c.Role != "" {
		body.Role = ptr(client.Role(c.Role))
	}
	if c.PasswordStdin {
		pw, err := readPassword(a.io.in)
		if err != nil {
			return err
		}
		body.Password = &pw
	}
	if body == (client.UserUpdate{}) {
		return usageErrorf("nothing to update: give --email, --name, --role, --enable/--disable, --sso/--no-sso, --api-access/--no-api-access or --password-stdin")
	}
	r, err := a.c.UpdateUserWithResponse(a.ctx, c.ID, body)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showUser(r.Body, r.JSON200)
}

type usersDeleteCmd struct{ userID }

func (c *usersDeleteCmd) Run(a *api) error {
	r, err := a.c.DeleteUserWithResponse(a.ctx, c.ID)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	if a.json {
		return nil
	}
	_, err = fmt.Fprintf(a.io.out, "Deleted user %d and its personal tokens.\n", c.ID)
	return err
}

// clients: /v2/clients (companies and tenants)

type clientsCmd struct {
	clientFlags

	List   clientsListCmd   `cmd:"" help:"List the companies in your scope."`
	Create clientsCreateCmd `cmd:"" help:"Create a tenant (needs clients:create: Global Administrator)."`
	Get    clientsGetCmd    `cmd:"" help:"Show one company."`
	Update clientsUpdateCmd `cmd:"" help:"Rename, enable or disable a company."`
}

type clientID struct {
	ID int64 `arg:"" name:"id" help:"Company (client) id."`
}

var clientHeader = []string{"ID", "NAME", "PARENT", "STATUS", "CREATED"}

func (a *api) clientRow(c client.Company) []string {
	parent := "-"
	if id := ni(c.ParentId); id != nil {
		parent = a.clientName(*id)
	}
	return []string{strconv.FormatInt(c.Id, 10), c.Name, parent, enabledWord(c.Enabled), fmtTime(c.CreatedAt)}
}

// prepareClients remembers the page's names and looks the parents up.
func (a *api) prepareClients(cs []client.Company) {
	var parents []int64
	for _, c := range cs {
		a.rememberClient(c.Id, c.Name)
		if id := ni(c.ParentId); id != nil {
			parents = append(parents, *id)
		}
	}
	a.lookupClients(parents)
}

func (a *api) showClient(body []byte, c *client.Company) error {
	if a.json {
		return a.printJSON(body)
	}
	if c == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no company"}
	}
	a.rememberClient(c.Id, c.Name)
	parent := "-"
	if id := ni(c.ParentId); id != nil {
		parent = a.clientWithID(*id)
	}
	return a.fields([][2]string{
		{"ID", strconv.FormatInt(c.Id, 10)}, {"UUID", c.Uuid.String()}, {"Name", c.Name}, {"Parent", parent},
		{"Status", enabledWord(c.Enabled)}, {"Created", fmtTime(c.CreatedAt)},
	})
}

type clientsListCmd struct {
	listOpts
}

func (c *clientsListCmd) Run(a *api) error {
	params := client.ListClientsParams{Limit: c.limit()}
	items, next, err := a.list(&c.listOpts, func(cursor *string) (*http.Response, []byte, error) {
		p := params
		p.Cursor = cursor
		r, err := a.c.ListClientsWithResponse(a.ctx, &p)
		if err != nil {
			return nil, nil, err
		}
		return r.HTTPResponse, r.Body, nil
	})
	if err != nil {
		return err
	}
	return printList(a, "companies", items, next, clientHeader, a.prepareClients, a.clientRow)
}

type clientsCreateCmd struct {
	Name string `name:"name" required:"" help:"The company's name."`
}

func (c *clientsCreateCmd) Run(a *api) error {
	r, err := a.c.CreateClientWithResponse(a.ctx, client.ClientCreate{Name: c.Name})
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showClient(r.Body, r.JSON201)
}

type clientsGetCmd struct{ clientID }

func (c *clientsGetCmd) Run(a *api) error {
	r, err := a.c.GetClientWithResponse(a.ctx, c.ID)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showClient(r.Body, r.JSON200)
}

type clientsUpdateCmd struct {
	clientID
	Name    string `name:"name" help:"New name."`
	Enable  bool   `name:"enable" xor:"enable" help:"Enable the company."`
	Disable bool   `name:"disable" xor:"enable" help:"Disable the company."`
}

func (c *clientsUpdateCmd) Run(a *api) error {
	body := client.ClientUpdate{Enabled: boolFilter(c.Enable, c.Disable)}
	if c.Name != "" {
		body.Name = &c.Name
	}
	if body.Name == nil && body.Enabled == nil {
		return usageErrorf("nothing to update: give --name, --enable or --disable")
	}
	r, err := a.c.UpdateClientWithResponse(a.ctx, c.ID, body)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return err
	}
	return a.showClient(r.Body, r.JSON200)
}
