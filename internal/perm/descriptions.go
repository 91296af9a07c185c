package perm

// descriptions say, in one line each, what a permission allows: the
// catalog publishes them (GET /v2/permissions) for the console, the CLI
// and Swagger UI, so that nobody has to guess what api_discovery:update
// does. A permission added to the catalog needs its line here; a test
// fails otherwise. Resources other than tokend's own (users, api_tokens,
// activity_log, clients, nodes) are Wallarm's: tokend issues and checks
// the permission, the service that owns the resource enforces it.
var descriptions = map[Permission]string{
	"nodes:view":   "See filter nodes and their state",
	"nodes:create": "Register filter nodes (what Deploy tokens are for)",
	"nodes:update": "Rename filter nodes and change their settings",
	"nodes:delete": "Remove filter nodes",

	"attacks:view":   "See detected attacks and the requests they were made of",
	"attacks:create": "Record attacks, e.g. imported from another tool",
	"attacks:update": "Change attacks: mark false positives, set their status",
	"attacks:delete": "Delete attacks",

	"incidents:view":   "See incidents: attacks that exploited a vulnerability",
	"incidents:create": "Open incidents",
	"incidents:update": "Change incidents: status, assignee, notes",
	"incidents:delete": "Delete incidents",

	"vulnerabilities:view":   "See the vulnerabilities found in your APIs",
	"vulnerabilities:create": "Record vulnerabilities",
	"vulnerabilities:update": "Change vulnerabilities: close, reopen, mark as false",
	"vulnerabilities:delete": "Delete vulnerabilities",

	"api_discovery:view":   "See the API inventory that discovery built from traffic",
	"api_discovery:create": "Add endpoints to the API inventory",
	"api_discovery:update": "Edit discovered endpoints: risk score, tags, status",
	"api_discovery:delete": "Remove endpoints from the API inventory",

	"api_specs:view":   "See the uploaded API specifications",
	"api_specs:create": "Upload API specifications",
	"api_specs:update": "Replace uploaded API specifications or change their settings",
	"api_specs:delete": "Delete uploaded API specifications",

	"triggers:view":   "See triggers: the conditions that raise alerts and reactions",
	"triggers:create": "Create triggers",
	"triggers:update": "Change triggers' conditions and reactions",
	"triggers:delete": "Delete triggers",

	"ip_lists:view":   "See the allow, deny and gray IP lists",
	"ip_lists:create": "Add addresses, ranges and countries to IP lists",
	"ip_lists:update": "Change IP list entries: reason, lifetime",
	"ip_lists:delete": "Remove entries from IP lists",

	"rules:view":   "See the rules that tune traffic filtering",
	"rules:create": "Create filtering rules",
	"rules:update": "Change filtering rules",
	"rules:delete": "Delete filtering rules",

	"integrations:view":   "See integrations (SIEM, chat, ticketing) and token webhooks",
	"integrations:create": "Connect integrations and subscribe webhooks",
	"integrations:update": "Change integrations and webhooks",
	"integrations:delete": "Remove integrations and webhooks",

	"applications:view":   "See applications: the protected apps and their ids",
	"applications:create": "Create applications",
	"applications:update": "Rename applications and change their settings",
	"applications:delete": "Delete applications",

	"users:view":   "See the users of the companies in scope",
	"users:create": "Create users and set their initial password",
	"users:update": "Change users: name, e-mail, role, state, one-time password",
	"users:delete": "Delete users and their personal tokens",

	"api_tokens:view":   "See your own API tokens (every token of the company with api_tokens:manage)",
	"api_tokens:create": "Create personal API tokens, never broader than yourself",
	"api_tokens:update": "Rename, re-scope, disable, enable and renew API tokens",
	"api_tokens:delete": "Delete API tokens",
	"api_tokens:manage": "See and manage every token of the companies in scope; create shared tokens",
	"api_tokens:verify": "Check other tokens for another service (POST /v2/api_tokens/verify)",

	"activity_log:view": "Read the activity log: who did what to which token or user, from where",

	"clients:view":   "See the companies in scope: a partner's technical tenant and its tenants",
	"clients:create": "Create tenants under your technical tenant",
	"clients:update": "Rename, disable and enable companies",
	"clients:delete": "Delete tenants (disabled first)",
}
