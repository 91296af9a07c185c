package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/gen/client"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/testenv"
	"github.com/tokend/tokend/server"
	"github.com/tokend/tokend/store"
)

// The authorization matrix (issue 3): every operation of the spec × every
// kind of caller × the object it acts on, with the status DESIGN.md
// promises, declared by hand in matrixTable below and checked through real
// HTTP on every backend.
//
// The operation list comes from the embedded spec: an operation without
// rows fails the test, and so does a caller or target without a row, so a
// new route or a new kind of caller cannot skip the matrix.
//
// How the table was written (DESIGN.md §2, §3 and docs/RULES.md):
//   - the operation's permission (x-tokend-permission) missing from the
//     caller's effective permissions → 403, before any lookup, whatever the
//     target;
//   - an object outside what the caller may see → 404 (R6, R18), other
//     tenants' objects included; without api_tokens:manage only one's own
//     personal tokens are visible;
//   - R9: a personal token's secret is its owner's alone (a manager sees the
//     token but gets 403 for its value); renewing answers the new value, so
//     it follows the same rule; a shared token's secret is for managers;
//   - R4: a shared token owns nothing and cannot create personal tokens;
//   - nobody deletes their own user (400);
//   - partner_* callers belong to the technical tenant P: their scope is P
//     and every tenant linked to it (A and B), not another partner's company;
//   - verify never answers 404 (no oracle): an invisible token is
//     {"active": false} with 200;
//   - no credential on a secured route → 401.

// Callers, in the order they run.
var matrixCallers = []string{
	"admin", "analytic", "api_developer", "auditor", "deploy",
	"partner_admin", "partner_analytic", "partner_auditor",
	"shared", "other-tenant", "anonymous",
}

// Targets.
const (
	tNone   = "-"             // the operation has no object (or, for a create, the caller's own company)
	tOwn    = "own"           // the caller's own token, own user, own company
	tSame   = "same-company"  // another user's object in the caller's company
	tShared = "shared"        // a shared (company) token of the caller's company
	tLinked = "linked-tenant" // an object of a tenant linked to a partner caller's technical tenant
	tOther  = "other-tenant"  // an object outside the caller's scope
)

// rows is caller → target → status; the caller "*" stands for every caller,
// with its credential, and for no credential at all (public routes).
type rows map[string]map[string]int

// matrixTable: operationId → caller → target → status.
var matrixTable = map[string]rows{
	// Public routes: whoever asks, with or without a credential.
	"healthz": {"*": {tNone: 200}},
	"readyz":  {"*": {tNone: 200}},
	// The credentials are wrong: the same 401 for everyone (R19).
	"login": {"*": {tNone: 401}},
	// Possession of the value is the proof; the answer is the same whoever
	// asks and whatever the value.
	"revokeLeakedToken": {"*": {tNone: 202}},
	// Not operations of the spec (matrixExtraRoutes): the documentation.
	"GET /api-docs":              {"*": {tNone: 200}},
	"GET /api/v1/api-docs":       {"*": {tNone: 200}},
	"GET /api-docs/openapi.json": {"*": {tNone: 200}},
	// The web console's static assets (it signs in through the API) and the
	// Prometheus metrics: DESIGN.md does not list them; they are public.
	"GET /console": {"*": {tNone: 200}},
	// Metrics are served on their own listener (TOKEND_METRICS_LISTEN).
	"GET /metrics": {"*": {tNone: 404}},

	// Any authenticated caller.
	"listPermissions": {
		"admin": {tNone: 200}, "analytic": {tNone: 200}, "api_developer": {tNone: 200}, "auditor": {tNone: 200}, "deploy": {tNone: 200},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 200}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	"getCurrentUser": {
		"admin": {tNone: 200}, "analytic": {tNone: 200}, "api_developer": {tNone: 200}, "auditor": {tNone: 200}, "deploy": {tNone: 200},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 200}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	"postCurrentUser": {
		"admin": {tNone: 200}, "analytic": {tNone: 200}, "api_developer": {tNone: 200}, "auditor": {tNone: 200}, "deploy": {tNone: 200},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 200}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	// The caller's own password, with a wrong current password: 400 for a
	// signed-in session; an API token, personal or shared, is refused (403
	// session-required, R20: no token is a way to guess or replace the
	// password). The callers that hold personal tokens call with them.
	"changePassword": {
		"admin": {tNone: 403}, "analytic": {tNone: 403}, "api_developer": {tNone: 400}, "auditor": {tNone: 400}, "deploy": {tNone: 400},
		"partner_admin": {tNone: 403}, "partner_analytic": {tNone: 403}, "partner_auditor": {tNone: 400},
		"shared": {tNone: 403}, "other-tenant": {tNone: 403}, "anonymous": {tNone: 401},
	},
	// Ends a session; a no-op for API tokens.
	"logout": {
		"admin": {tNone: 204}, "analytic": {tNone: 204}, "api_developer": {tNone: 204}, "auditor": {tNone: 204}, "deploy": {tNone: 204},
		"partner_admin": {tNone: 204}, "partner_analytic": {tNone: 204}, "partner_auditor": {tNone: 204},
		"shared": {tNone: 204}, "other-tenant": {tNone: 204}, "anonymous": {tNone: 401},
	},

	// Clients: everyone sees their own company; global roles also their
	// linked tenants; clients:update, clients:create (Global Administrator).
	"listClients": {
		"admin": {tNone: 200}, "analytic": {tNone: 200}, "api_developer": {tNone: 200}, "auditor": {tNone: 200}, "deploy": {tNone: 200},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 200}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	"getClient": {
		"admin":            {tOwn: 200, tOther: 404},
		"analytic":         {tOwn: 200, tOther: 404},
		"api_developer":    {tOwn: 200, tOther: 404},
		"auditor":          {tOwn: 200, tOther: 404},
		"deploy":           {tOwn: 200, tOther: 404},
		"partner_admin":    {tOwn: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tOwn: 200, tLinked: 200, tOther: 404},
		"partner_auditor":  {tOwn: 200, tLinked: 200, tOther: 404},
		"shared":           {tOwn: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"updateClient": {
		"admin":            {tOwn: 200, tOther: 404},
		"analytic":         {tOwn: 403, tOther: 403},
		"api_developer":    {tOwn: 403, tOther: 403},
		"auditor":          {tOwn: 403, tOther: 403},
		"deploy":           {tOwn: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tOwn: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tOwn: 403, tLinked: 403, tOther: 403},
		"shared":           {tOwn: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"createClient": {
		"admin": {tNone: 403}, "analytic": {tNone: 403}, "api_developer": {tNone: 403}, "auditor": {tNone: 403}, "deploy": {tNone: 403},
		"partner_admin": {tNone: 201}, "partner_analytic": {tNone: 403}, "partner_auditor": {tNone: 403},
		"shared": {tNone: 403}, "other-tenant": {tNone: 403}, "anonymous": {tNone: 401},
	},

	// Users: users:* within scope (R17, R18).
	"listUsers": {
		"admin": {tNone: 200}, "analytic": {tNone: 403}, "api_developer": {tNone: 403}, "auditor": {tNone: 200}, "deploy": {tNone: 403},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 403}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	// Create a user (analytic) in the caller's company, a linked tenant, another tenant.
	"createUser": {
		"admin":            {tNone: 201, tOther: 404},
		"analytic":         {tNone: 403, tOther: 403},
		"api_developer":    {tNone: 403, tOther: 403},
		"auditor":          {tNone: 403, tOther: 403},
		"deploy":           {tNone: 403, tOther: 403},
		"partner_admin":    {tNone: 201, tLinked: 201, tOther: 404},
		"partner_analytic": {tNone: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tNone: 403, tLinked: 403, tOther: 403},
		"shared":           {tNone: 201, tOther: 404},
		"other-tenant":     {tNone: 201, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"getUser": {
		"admin":            {tOwn: 200, tSame: 200, tOther: 404},
		"analytic":         {tOwn: 403, tSame: 403, tOther: 403},
		"api_developer":    {tOwn: 403, tSame: 403, tOther: 403},
		"auditor":          {tOwn: 200, tSame: 200, tOther: 404},
		"deploy":           {tOwn: 403, tSame: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tSame: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tOwn: 403, tSame: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tOwn: 200, tSame: 200, tLinked: 200, tOther: 404},
		"shared":           {tSame: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tSame: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"updateUser": {
		"admin":            {tOwn: 200, tSame: 200, tOther: 404},
		"analytic":         {tOwn: 403, tSame: 403, tOther: 403},
		"api_developer":    {tOwn: 403, tSame: 403, tOther: 403},
		"auditor":          {tOwn: 403, tSame: 403, tOther: 403},
		"deploy":           {tOwn: 403, tSame: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tSame: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tOwn: 403, tSame: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tOwn: 403, tSame: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tSame: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	// Nobody deletes their own user (400).
	"deleteUser": {
		"admin":            {tOwn: 400, tSame: 204, tOther: 404},
		"analytic":         {tOwn: 403, tSame: 403, tOther: 403},
		"api_developer":    {tOwn: 403, tSame: 403, tOther: 403},
		"auditor":          {tOwn: 403, tSame: 403, tOther: 403},
		"deploy":           {tOwn: 403, tSame: 403, tOther: 403},
		"partner_admin":    {tOwn: 400, tSame: 204, tLinked: 204, tOther: 404},
		"partner_analytic": {tOwn: 403, tSame: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tOwn: 403, tSame: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 204, tOther: 404},
		"other-tenant":     {tOwn: 400, tSame: 204, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	// R15: users:update on a user in scope, not more powerful than the
	// caller; R22: only a Global Administrator imports (403 for anyone else
	// who can see the user).
	"importLegacyCredentials": {
		"admin":            {tOwn: 403, tSame: 403, tOther: 404},
		"analytic":         {tOwn: 403, tSame: 403, tOther: 403},
		"api_developer":    {tOwn: 403, tSame: 403, tOther: 403},
		"auditor":          {tOwn: 403, tSame: 403, tOther: 403},
		"deploy":           {tOwn: 403, tSame: 403, tOther: 403},
		"partner_admin":    {tOwn: 201, tSame: 201, tLinked: 201, tOther: 404},
		"partner_analytic": {tOwn: 403, tSame: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tOwn: 403, tSame: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 403, tOther: 404},
		"other-tenant":     {tOwn: 403, tSame: 403, tOther: 404},
		"anonymous":        {tNone: 401},
	},

	// Tokens: api_tokens:*; R6 visibility; R9 for the value.
	"listTokens": {
		"admin": {tNone: 200}, "analytic": {tNone: 200}, "api_developer": {tNone: 403}, "auditor": {tNone: 403}, "deploy": {tNone: 403},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 200}, "partner_auditor": {tNone: 403},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	// A personal token with api_tokens:view, in the caller's company (no
	// client_id), a linked tenant, another tenant; R4 for the shared token.
	"createToken": {
		"admin":            {tNone: 201, tOther: 404},
		"analytic":         {tNone: 201, tOther: 404},
		"api_developer":    {tNone: 403, tOther: 403},
		"auditor":          {tNone: 403, tOther: 403},
		"deploy":           {tNone: 403, tOther: 403},
		"partner_admin":    {tNone: 201, tLinked: 201, tOther: 404},
		"partner_analytic": {tNone: 201, tLinked: 201, tOther: 404},
		"partner_auditor":  {tNone: 403, tLinked: 403, tOther: 403},
		"shared":           {tNone: 403, tOther: 404},
		"other-tenant":     {tNone: 201, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"getToken": {
		"admin":            {tOwn: 200, tSame: 200, tShared: 200, tOther: 404},
		"analytic":         {tOwn: 200, tSame: 404, tShared: 404, tOther: 404},
		"api_developer":    {tSame: 403, tShared: 403, tOther: 403},
		"auditor":          {tSame: 403, tShared: 403, tOther: 403},
		"deploy":           {tSame: 403, tShared: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tSame: 200, tShared: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tOwn: 200, tSame: 404, tShared: 404, tLinked: 404, tOther: 404},
		"partner_auditor":  {tSame: 403, tShared: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 200, tShared: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tSame: 200, tShared: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"updateToken": {
		"admin":            {tOwn: 200, tSame: 200, tShared: 200, tOther: 404},
		"analytic":         {tOwn: 200, tSame: 404, tShared: 404, tOther: 404},
		"api_developer":    {tSame: 403, tShared: 403, tOther: 403},
		"auditor":          {tSame: 403, tShared: 403, tOther: 403},
		"deploy":           {tSame: 403, tShared: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tSame: 200, tShared: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tOwn: 200, tSame: 404, tShared: 404, tLinked: 404, tOther: 404},
		"partner_auditor":  {tSame: 403, tShared: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 200, tShared: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tSame: 200, tShared: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"deleteToken": {
		"admin":            {tOwn: 204, tSame: 204, tShared: 204, tOther: 404},
		"analytic":         {tOwn: 204, tSame: 404, tShared: 404, tOther: 404},
		"api_developer":    {tSame: 403, tShared: 403, tOther: 403},
		"auditor":          {tSame: 403, tShared: 403, tOther: 403},
		"deploy":           {tSame: 403, tShared: 403, tOther: 403},
		"partner_admin":    {tOwn: 204, tSame: 204, tShared: 204, tLinked: 204, tOther: 404},
		"partner_analytic": {tOwn: 204, tSame: 404, tShared: 404, tLinked: 404, tOther: 404},
		"partner_auditor":  {tSame: 403, tShared: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 204, tShared: 204, tOther: 404},
		"other-tenant":     {tOwn: 204, tSame: 204, tShared: 204, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	// R9: the owner of a personal token; managers for a shared token; a
	// manager who sees someone else's personal token is refused its value.
	"getTokenSecret": {
		"admin":            {tOwn: 200, tSame: 403, tShared: 200, tOther: 404},
		"analytic":         {tOwn: 200, tSame: 404, tShared: 404, tOther: 404},
		"api_developer":    {tSame: 403, tShared: 403, tOther: 403},
		"auditor":          {tSame: 403, tShared: 403, tOther: 403},
		"deploy":           {tSame: 403, tShared: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tSame: 403, tShared: 200, tLinked: 403, tOther: 404},
		"partner_analytic": {tOwn: 200, tSame: 404, tShared: 404, tLinked: 404, tOther: 404},
		"partner_auditor":  {tSame: 403, tShared: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 403, tShared: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tSame: 403, tShared: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	// R10 answers the new value, so R9 applies as to reading it.
	"renewToken": {
		"admin":            {tOwn: 200, tSame: 403, tShared: 200, tOther: 404},
		"analytic":         {tOwn: 200, tSame: 404, tShared: 404, tOther: 404},
		"api_developer":    {tSame: 403, tShared: 403, tOther: 403},
		"auditor":          {tSame: 403, tShared: 403, tOther: 403},
		"deploy":           {tSame: 403, tShared: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tSame: 403, tShared: 200, tLinked: 403, tOther: 404},
		"partner_analytic": {tOwn: 200, tSame: 404, tShared: 404, tLinked: 404, tOther: 404},
		"partner_auditor":  {tSame: 403, tShared: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 403, tShared: 200, tOther: 404},
		"other-tenant":     {tOwn: 200, tSame: 403, tShared: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	// Introspection needs api_tokens:verify; it never answers 404, an
	// unknown or invisible token is {"active": false} (no oracle).
	"verifyToken": {
		"admin":            {tOwn: 200, tSame: 200, tShared: 200, tOther: 200},
		"analytic":         {tOwn: 403, tSame: 403, tShared: 403, tOther: 403},
		"api_developer":    {tSame: 403, tShared: 403, tOther: 403},
		"auditor":          {tSame: 403, tShared: 403, tOther: 403},
		"deploy":           {tSame: 403, tShared: 403, tOther: 403},
		"partner_admin":    {tOwn: 200, tSame: 200, tShared: 200, tLinked: 200, tOther: 200},
		"partner_analytic": {tOwn: 403, tSame: 403, tShared: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tSame: 403, tShared: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 200, tShared: 200, tOther: 200},
		"other-tenant":     {tOwn: 200, tSame: 200, tShared: 200, tOther: 200},
		"anonymous":        {tNone: 401},
	},

	// The activity log: activity_log:view.
	"listActivity": {
		"admin": {tNone: 200}, "analytic": {tNone: 403}, "api_developer": {tNone: 403}, "auditor": {tNone: 200}, "deploy": {tNone: 403},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 403}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},

	// Webhooks: integrations:* (analysts and auditors view).
	"listWebhooks": {
		"admin": {tNone: 200}, "analytic": {tNone: 200}, "api_developer": {tNone: 403}, "auditor": {tNone: 200}, "deploy": {tNone: 403},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 200}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	"createWebhook": {
		"admin":            {tNone: 201, tOther: 404},
		"analytic":         {tNone: 403, tOther: 403},
		"api_developer":    {tNone: 403, tOther: 403},
		"auditor":          {tNone: 403, tOther: 403},
		"deploy":           {tNone: 403, tOther: 403},
		"partner_admin":    {tNone: 201, tLinked: 201, tOther: 404},
		"partner_analytic": {tNone: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tNone: 403, tLinked: 403, tOther: 403},
		"shared":           {tNone: 201, tOther: 404},
		"other-tenant":     {tNone: 201, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"getWebhook": {
		"admin":            {tSame: 200, tOther: 404},
		"analytic":         {tSame: 200, tOther: 404},
		"api_developer":    {tSame: 403, tOther: 403},
		"auditor":          {tSame: 200, tOther: 404},
		"deploy":           {tSame: 403, tOther: 403},
		"partner_admin":    {tSame: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tSame: 200, tLinked: 200, tOther: 404},
		"partner_auditor":  {tSame: 200, tLinked: 200, tOther: 404},
		"shared":           {tSame: 200, tOther: 404},
		"other-tenant":     {tSame: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"listWebhookDeliveries": {
		"admin":            {tSame: 200, tOther: 404},
		"analytic":         {tSame: 200, tOther: 404},
		"api_developer":    {tSame: 403, tOther: 403},
		"auditor":          {tSame: 200, tOther: 404},
		"deploy":           {tSame: 403, tOther: 403},
		"partner_admin":    {tSame: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tSame: 200, tLinked: 200, tOther: 404},
		"partner_auditor":  {tSame: 200, tLinked: 200, tOther: 404},
		"shared":           {tSame: 200, tOther: 404},
		"other-tenant":     {tSame: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"updateWebhook": {
		"admin":            {tSame: 200, tOther: 404},
		"analytic":         {tSame: 403, tOther: 403},
		"api_developer":    {tSame: 403, tOther: 403},
		"auditor":          {tSame: 403, tOther: 403},
		"deploy":           {tSame: 403, tOther: 403},
		"partner_admin":    {tSame: 200, tLinked: 200, tOther: 404},
		"partner_analytic": {tSame: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tSame: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 200, tOther: 404},
		"other-tenant":     {tSame: 200, tOther: 404},
		"anonymous":        {tNone: 401},
	},
	"deleteWebhook": {
		"admin":            {tSame: 204, tOther: 404},
		"analytic":         {tSame: 403, tOther: 403},
		"api_developer":    {tSame: 403, tOther: 403},
		"auditor":          {tSame: 403, tOther: 403},
		"deploy":           {tSame: 403, tOther: 403},
		"partner_admin":    {tSame: 204, tLinked: 204, tOther: 404},
		"partner_analytic": {tSame: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tSame: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 204, tOther: 404},
		"other-tenant":     {tSame: 204, tOther: 404},
		"anonymous":        {tNone: 401},
	},

	// Nodes: what Deploy tokens exist for (nodes:view, nodes:create).
	"listNodes": {
		"admin": {tNone: 200}, "analytic": {tNone: 200}, "api_developer": {tNone: 403}, "auditor": {tNone: 200}, "deploy": {tNone: 200},
		"partner_admin": {tNone: 200}, "partner_analytic": {tNone: 200}, "partner_auditor": {tNone: 200},
		"shared": {tNone: 200}, "other-tenant": {tNone: 200}, "anonymous": {tNone: 401},
	},
	"createNode": {
		"admin": {tNone: 201}, "analytic": {tNone: 403}, "api_developer": {tNone: 403}, "auditor": {tNone: 403}, "deploy": {tNone: 201},
		"partner_admin": {tNone: 201}, "partner_analytic": {tNone: 403}, "partner_auditor": {tNone: 403},
		"shared": {tNone: 201}, "other-tenant": {tNone: 201}, "anonymous": {tNone: 401},
	},
	"deleteNode": {
		"admin":            {tSame: 204, tOther: 404},
		"analytic":         {tSame: 403, tOther: 403},
		"api_developer":    {tSame: 403, tOther: 403},
		"auditor":          {tSame: 403, tOther: 403},
		"deploy":           {tSame: 403, tOther: 403},
		"partner_admin":    {tSame: 204, tLinked: 204, tOther: 404},
		"partner_analytic": {tSame: 403, tLinked: 403, tOther: 403},
		"partner_auditor":  {tSame: 403, tLinked: 403, tOther: 403},
		"shared":           {tSame: 204, tOther: 404},
		"other-tenant":     {tSame: 204, tOther: 404},
		"anonymous":        {tNone: 401},
	},
}

// matrixExtraRoutes are routes outside the spec that still get rows.
var matrixExtraRoutes = []string{"GET /api-docs", "GET /api/v1/api-docs", "GET /api-docs/openapi.json", "GET /console", "GET /metrics"}

// A matrixOp says what an operation acts on and how to call it.
type matrixOp struct {
	// object: "token", "user", "client", "webhook", "node"; "company" for a
	// create whose body may name the company (client_id); "" for none.
	object string
	// call builds the request; id is the target object (0 for none).
	call func(w *matrixWorld, id int64) (method, path, body string)
	last bool // runs after the others: it ends or changes the caller's credential
	// check, when set, looks further into a successful answer.
	check func(w *matrixWorld, target string, id int64, raw []byte) error
}

func fixed(method, path, body string) func(*matrixWorld, int64) (string, string, string) {
	return func(*matrixWorld, int64) (string, string, string) { return method, path, body }
}

func onObject(method, format, body string) func(*matrixWorld, int64) (string, string, string) {
	return func(_ *matrixWorld, id int64) (string, string, string) { return method, fmt.Sprintf(format, id), body }
}

// inCompany adds "client_id" to a create body when the target names a company.
func inCompany(path, body string) func(*matrixWorld, int64) (string, string, string) {
	return func(_ *matrixWorld, id int64) (string, string, string) {
		if id == 0 {
			return "POST", path, body
		}
		return "POST", path, strings.TrimSuffix(body, "}") + fmt.Sprintf(`,"client_id":%d}`, id)
	}
}

var matrixOps = map[string]matrixOp{
	"healthz": {call: fixed("GET", "/healthz", "")},
	"readyz":  {call: fixed("GET", "/readyz", "")},
	// A different unknown account each time: one account's wrong
	// passwords are bounded (R23), and the matrix asks 11 times.
	"login": {call: func(*matrixWorld, int64) (string, string, string) {
		return "POST", "/v1/login", fmt.Sprintf(`{"email":"nobody-%s@example.com","password":"not the password"}`, uuid.NewString()[:8])
	}},
	"revokeLeakedToken":          {call: fixed("POST", "/v2/api_tokens/revoke_leaked", `{"token":"tkd_not_a_real_token"}`)},
	"GET /api-docs":              {call: fixed("GET", "/api-docs", "")},
	"GET /api/v1/api-docs":       {call: fixed("GET", "/api/v1/api-docs", "")},
	"GET /api-docs/openapi.json": {call: fixed("GET", "/api-docs/openapi.json", "")},
	"GET /console":               {call: fixed("GET", "/console/", "")},
	"GET /metrics":               {call: fixed("GET", "/metrics", "")},
	"listPermissions":            {call: fixed("GET", "/v2/permissions", "")},
	"getCurrentUser":             {call: fixed("GET", "/v1/user", "")},
	"postCurrentUser":            {call: fixed("POST", "/v1/user", "{}")},
	"changePassword": {last: true,
		call: fixed("PUT", "/v1/user/password", `{"current_password":"wrong-password-here","new_password":"a-new-password-long-enough"}`)},
	"logout":       {last: true, call: fixed("POST", "/v1/logout", "{}")},
	"listClients":  {call: fixed("GET", "/v2/clients", "")},
	"getClient":    {object: "client", call: onObject("GET", "/v2/clients/%d", "")},
	"updateClient": {object: "client", call: onObject("PUT", "/v2/clients/%d", `{"name":"Renamed by the matrix"}`)},
	"createClient": {call: fixed("POST", "/v2/clients", `{"name":"Tenant from the matrix"}`)},
	"listUsers":    {call: fixed("GET", "/v2/users", "")},
	"createUser": {object: "company", call: func(w *matrixWorld, id int64) (string, string, string) {
		return inCompany("/v2/users", fmt.Sprintf(`{"email":"matrix-%s@example.com","realname":"From the matrix","role":"analytic"}`, uuid.NewString()[:8]))(w, id)
	}},
	"getUser":    {object: "user", call: onObject("GET", "/v2/users/%d", "")},
	"updateUser": {object: "user", call: onObject("PUT", "/v2/users/%d", `{"realname":"Renamed by the matrix"}`)},
	"deleteUser": {object: "user", call: onObject("DELETE", "/v2/users/%d", "")},
	"importLegacyCredentials": {object: "user", call: func(_ *matrixWorld, id int64) (string, string, string) {
		b := make([]byte, 48)
		_, _ = rand.Read(b)
		return "POST", fmt.Sprintf("/v2/users/%d/legacy_credentials", id),
			fmt.Sprintf(`{"uuid":%q,"secret":%q}`, uuid.NewString(), base64.StdEncoding.EncodeToString(b))
	}},
	"listTokens":  {call: fixed("GET", "/v2/api_tokens", "")},
	"createToken": {object: "company", call: inCompany("/v2/api_tokens", `{"realname":"From the matrix","permissions":["api_tokens:view"]}`)},
	"getToken":    {object: "token", call: onObject("GET", "/v2/api_tokens/%d", "")},
	"updateToken": {object: "token", call: onObject("PUT", "/v2/api_tokens/%d", `{"realname":"Renamed by the matrix"}`)},
	"deleteToken": {object: "token", call: onObject("DELETE", "/v2/api_tokens/%d", "")},
	"getTokenSecret": {object: "token", call: onObject("GET", "/v2/api_tokens/%d/secret", ""),
		check: func(w *matrixWorld, _ string, id int64, raw []byte) error {
			var out struct{ Secret string }
			if err := json.Unmarshal(raw, &out); err != nil || out.Secret != w.values[id] {
				return fmt.Errorf("the secret is not the token's value: %s", raw)
			}
			return nil
		}},
	"renewToken": {object: "token", call: onObject("POST", "/v2/api_tokens/%d/renew", "{}")},
	"verifyToken": {object: "token", call: func(w *matrixWorld, id int64) (string, string, string) {
		return "POST", "/v2/api_tokens/verify", fmt.Sprintf(`{"token":%q}`, w.values[id])
	}, check: func(_ *matrixWorld, target string, _ int64, raw []byte) error {
		// Active within the caller's scope, inactive outside it (R18).
		var out struct{ Active bool }
		if err := json.Unmarshal(raw, &out); err != nil || out.Active != (target != tOther) {
			return fmt.Errorf("active should be %v for %s: %s", target != tOther, target, raw)
		}
		return nil
	}},
	"listActivity":          {call: fixed("GET", "/v2/activity_log", "")},
	"listWebhooks":          {call: fixed("GET", "/v2/webhooks", "")},
	"createWebhook":         {object: "company", call: inCompany("/v2/webhooks", `{"url":"https://hooks.example.com/tokend","events":["token.expiring"]}`)},
	"getWebhook":            {object: "webhook", call: onObject("GET", "/v2/webhooks/%d", "")},
	"listWebhookDeliveries": {object: "webhook", call: onObject("GET", "/v2/webhooks/%d/deliveries", "")},
	"updateWebhook":         {object: "webhook", call: onObject("PUT", "/v2/webhooks/%d", `{"enabled":false}`)},
	"deleteWebhook":         {object: "webhook", call: onObject("DELETE", "/v2/webhooks/%d", "")},
	"listNodes":             {call: fixed("GET", "/v2/nodes", "")},
	"createNode":            {call: fixed("POST", "/v2/nodes", `{"name":"node from the matrix"}`)},
	"deleteNode":            {object: "node", call: onObject("DELETE", "/v2/nodes/%d", "")},
}

// A matrixCompany is a company of the world with an administrator who
// creates the objects the callers act on.
type matrixCompany struct {
	id   int64
	cred string // its administrator's personal token (partner_admin in a technical tenant)
}

// A matrixCaller is one credential of the matrix.
type matrixCaller struct {
	name   string
	cred   string         // "" for anonymous
	user   *client.User   // nil for the shared token and anonymous
	home   *matrixCompany // the caller's company
	linked *matrixCompany // a tenant linked to a partner caller's technical tenant
	other  *matrixCompany // a company outside the caller's scope
	// ownsTokens: the caller holds a personal token (R4: roles with
	// api_tokens:create) and authenticates with it; the others
	// authenticate with their sign-in session (R19).
	ownsTokens bool
}

type matrixWorld struct {
	env     *testenv.Env
	callers map[string]*matrixCaller
	values  map[int64]string // token id → value, for verify
	cache   map[string]int64 // objects of read-only rows, shared between rows
}

// buildMatrixWorld: the technical tenant P (the bootstrap company) with two
// linked tenants A and B, and X, another partner's technical tenant, outside
// P's scope. Company roles live in A (their other tenant is B); global roles
// live in P (their linked tenant is A, their other company X); the shared
// token is A's; the other-tenant caller is B's administrator.
func buildMatrixWorld(t *testing.T, env *testenv.Env) *matrixWorld {
	t.Helper()
	ctx := context.Background()
	boot := env.Admin.Token
	tenantA, tenantB := newTenant(t, env, "Tenant A"), newTenant(t, env, "Tenant B")
	// The API cannot create a company outside the caller's partner scope,
	// so X and its Global Administrator are made in the store.
	now := env.Clock.Now()
	x := &store.Client{UUID: uuid.NewString(), Name: "Another partner", Enabled: true, CreatedAt: now, UpdatedAt: now}
	testenv.Must(t, env.Store.CreateClient(ctx, x))
	xAdmin := &store.User{UUID: uuid.NewString(), ClientID: x.ID, Email: "partner-x@example.com", Realname: "Partner X",
		Role: "partner_admin", Enabled: true, APIAccess: true, CreatedAt: now, UpdatedAt: now}
	testenv.Must(t, env.Store.CreateUser(ctx, xAdmin))
	xValue, err := secret.NewAPIToken()
	testenv.Must(t, err)
	testenv.Must(t, env.Store.DB().Create(&store.Token{ClientID: x.ID, UserID: &xAdmin.ID, Realname: "Partner X",
		Permissions: []string{"partner_admin"}, SourceRole: "partner_admin", Enabled: true, CreatedAt: now, UpdatedAt: now,
		Digest: env.Config.Keys.Digest(xValue), Hint: secret.Hint(xValue)}).Error)

	company := func(id int64, role client.Role, creator string, clientID int64) *matrixCompany {
		owner := newPerson(t, env, creator, role, clientID)
		return &matrixCompany{id: id, cred: personalToken(t, env, owner.Session, string(role)).Secret}
	}
	P := company(env.Admin.ClientID, client.PartnerAdmin, boot, 0)
	A := company(tenantA.Id, client.Admin, boot, tenantA.Id)
	B := company(tenantB.Id, client.Admin, boot, tenantB.Id)
	X := &matrixCompany{id: x.ID, cred: xValue}

	w := &matrixWorld{env: env, callers: map[string]*matrixCaller{}, values: map[int64]string{}, cache: map[string]int64{}}
	add := func(name string, role client.Role, home, linked, other *matrixCompany, creator string) {
		p := newPerson(t, env, creator, role, home.id)
		c := &matrixCaller{name: name, user: &p.User, home: home, linked: linked, other: other, cred: p.Session}
		if role == client.Admin || role == client.Analytic || role == client.PartnerAdmin || role == client.PartnerAnalytic {
			c.ownsTokens = true
			c.cred = personalToken(t, env, p.Session, string(role)).Secret
		}
		w.callers[name] = c
	}
	for _, role := range []client.Role{client.Admin, client.Analytic, client.ApiDeveloper, client.Auditor, client.Deploy} {
		add(string(role), role, A, nil, B, A.cred)
	}
	for _, role := range []client.Role{client.PartnerAdmin, client.PartnerAnalytic, client.PartnerAuditor} {
		add(string(role), role, P, A, X, boot)
	}
	add("other-tenant", client.Admin, B, nil, A, B.cred)
	w.callers["shared"] = &matrixCaller{name: "shared", home: A, other: B, cred: sharedToken(t, env, A.cred, "admin").Secret}
	w.callers["anonymous"] = &matrixCaller{name: "anonymous", home: A, other: B}
	return w
}

// targets lists the targets an operation has for a caller: the rows the
// table must declare.
func (w *matrixWorld) targets(op matrixOp, c *matrixCaller) []string {
	if c.name == "anonymous" {
		return []string{tNone}
	}
	var out []string
	switch op.object {
	case "":
		return []string{tNone}
	case "company":
		out = []string{tNone}
	case "token":
		if c.ownsTokens {
			out = append(out, tOwn)
		}
		out = append(out, tSame, tShared)
	case "user":
		if c.user != nil {
			out = append(out, tOwn)
		}
		out = append(out, tSame)
	case "client":
		out = []string{tOwn}
	case "webhook", "node":
		out = []string{tSame}
	}
	if c.linked != nil {
		out = append(out, tLinked)
	}
	return append(out, tOther)
}

// object returns the id of the object a row acts on: fresh for rows that
// change or delete it, so that rows do not interfere; shared between
// read-only rows.
func (w *matrixWorld) object(t *testing.T, kind string, c *matrixCaller, target string, readOnly bool) int64 {
	t.Helper()
	company := c.home
	switch target {
	case tLinked:
		company = c.linked
	case tOther:
		company = c.other
	}
	key := fmt.Sprintf("%s/%s/%s", kind, c.name, target)
	if id, ok := w.cache[key]; ok && readOnly {
		return id
	}
	var id int64
	switch kind {
	case "company":
		if target != tNone {
			id = company.id
		}
	case "client":
		id = company.id
	case "token":
		cred := company.cred
		if target == tOwn {
			cred = c.cred
		}
		var tok client.TokenWithSecret
		if target == tShared {
			tok = sharedToken(t, w.env, cred, "api_tokens:view")
		} else {
			tok = personalToken(t, w.env, cred, "api_tokens:view")
		}
		w.values[tok.Id] = tok.Secret
		id = tok.Id
	case "user":
		if target == tOwn {
			id = c.user.Id
		} else {
			id = w.create(t, company.cred, "/v2/users", fmt.Sprintf(
				`{"email":"target-%s@example.com","realname":"A target","role":"analytic","client_id":%d}`, uuid.NewString()[:8], company.id))
		}
	case "webhook":
		id = w.create(t, company.cred, "/v2/webhooks", fmt.Sprintf(
			`{"url":"https://hooks.example.com/tokend","events":["token.expiring"],"client_id":%d}`, company.id))
	case "node":
		id = w.create(t, company.cred, "/v2/nodes", `{"name":"a node"}`)
	default:
		t.Fatalf("unknown object kind %q", kind)
	}
	if readOnly {
		w.cache[key] = id
	}
	return id
}

func (w *matrixWorld) create(t *testing.T, cred, path, body string) int64 {
	t.Helper()
	status, raw := w.do(t, cred, "POST", path, body)
	if status != 201 {
		t.Fatalf("fixture POST %s %s: %d %s", path, body, status, raw)
	}
	var out struct{ Id int64 }
	if err := json.Unmarshal(raw, &out); err != nil || out.Id == 0 {
		t.Fatalf("fixture POST %s: %s", path, raw)
	}
	return out.Id
}

func (w *matrixWorld) do(t *testing.T, cred, method, path, body string) (int, []byte) {
	t.Helper()
	headers := map[string]string{}
	if cred != "" {
		headers["X-WallarmApi-Token"] = cred
	}
	resp := w.env.Do(method, path, body, headers)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	testenv.Must(t, err)
	return resp.StatusCode, raw
}

// matrixOperations is the spec's operations plus the extra routes, in the
// order the rows run: those that end the caller's credential last, logout
// last of all.
func matrixOperations(t *testing.T) []string {
	t.Helper()
	spec, err := api.GetSpec()
	testenv.Must(t, err)
	ops := slices.Clone(matrixExtraRoutes)
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			ops = append(ops, op.OperationID)
		}
	}
	sort.Strings(ops)
	sort.SliceStable(ops, func(i, j int) bool {
		a, b := matrixOps[ops[i]], matrixOps[ops[j]]
		if a.last != b.last {
			return b.last
		}
		return ops[i] != "logout" && ops[j] == "logout"
	})
	return ops
}

// TestAuthzMatrixComplete: every operation of the spec has rows, for every
// caller and every target it has, and the table declares nothing else.
// It needs no server, so it fails fast and names what is missing.
func TestAuthzMatrixComplete(t *testing.T) { checkMatrixComplete(t) }

func checkMatrixComplete(t *testing.T) {
	t.Helper()
	ops := matrixOperations(t)
	w := &matrixWorld{}
	// Callers' shapes, without a world: who owns tokens, who has a user,
	// who has linked tenants.
	shape := map[string]*matrixCaller{}
	for _, name := range matrixCallers {
		c := &matrixCaller{name: name, user: &client.User{}}
		switch name {
		case "admin", "analytic", "partner_admin", "partner_analytic", "other-tenant":
			c.ownsTokens = true
		case "shared", "anonymous":
			c.user = nil
		}
		if strings.HasPrefix(name, "partner_") {
			c.linked = &matrixCompany{}
		}
		shape[name] = c
	}
	for _, id := range ops {
		op, ok := matrixOps[id]
		table, declared := matrixTable[id]
		if !ok || !declared {
			t.Errorf("operation %s has no rows in the authorization matrix: declare who may call it (matrixTable and matrixOps)", id)
			continue
		}
		if _, any := table["*"]; any {
			if len(table) != 1 || len(table["*"]) != 1 || table["*"][tNone] == 0 {
				t.Errorf("%s: a public route declares one row, \"*\": {%q: status}", id, tNone)
			}
			continue
		}
		for _, name := range matrixCallers {
			want := w.targets(op, shape[name])
			var got []string
			for target := range table[name] {
				got = append(got, target)
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(want, got) {
				t.Errorf("%s/%s: the table declares targets %v, the operation has %v", id, name, got, want)
			}
		}
		for name := range table {
			if !slices.Contains(matrixCallers, name) {
				t.Errorf("%s: unknown caller %q", id, name)
			}
		}
	}
	for id := range matrixTable {
		if !slices.Contains(ops, id) {
			t.Errorf("the matrix declares %s, which is neither in the spec nor an extra route", id)
		}
	}
}

func TestAuthzMatrix(t *testing.T) {
	t.Parallel()
	checkMatrixComplete(t)
	if t.Failed() {
		return
	}
	ops := matrixOperations(t)
	testenv.ForEachBackend(t, func(t *testing.T, b testenv.Backend) {
		// The brute-force guard and the leak-report limit would answer 429
		// to the matrix's deliberate 401s and leak reports.
		env := testenv.New(t, b, testenv.Options{Configure: func(c *server.Config) {
			c.AuthFailureLimit, c.LeakReportLimit = 1_000_000, 1_000_000
		}})
		w := buildMatrixWorld(t, env)
		rows := 0
		for _, id := range ops {
			op, table := matrixOps[id], matrixTable[id]
			t.Run(id, func(t *testing.T) {
				for _, name := range matrixCallers {
					c := w.callers[name]
					byTarget, public := table["*"]
					if !public {
						byTarget = table[name]
					}
					t.Run(name, func(t *testing.T) {
						targets := slices.Sorted(func(yield func(string) bool) {
							for k := range byTarget {
								if !yield(k) {
									return
								}
							}
						})
						for _, target := range targets {
							want := byTarget[target]
							rows++
							run := func(t *testing.T) {
								var objectID int64
								kind := op.object
								if target == tNone && kind != "company" {
									kind = ""
								}
								method, _, _ := op.call(w, 0)
								if kind != "" {
									objectID = w.object(t, kind, c, target, method == "GET" || id == "verifyToken")
								} else if c.name == "anonymous" && op.object != "" && op.object != "company" {
									objectID = w.object(t, op.object, w.callers["admin"], tSame, true)
								}
								method, path, body := op.call(w, objectID)
								status, raw := w.do(t, c.cred, method, path, body)
								if status != want {
									t.Errorf("%s %s as %s: got %d, want %d: %.400s", method, path, c.name, status, want, strings.TrimSpace(string(raw)))
								} else if status < 300 && op.check != nil {
									if err := op.check(w, target, objectID, raw); err != nil {
										t.Errorf("%s %s as %s: %v", method, path, c.name, err)
									}
								}
							}
							if target == tNone {
								run(t)
							} else {
								t.Run(target, run)
							}
						}
					})
				}
			})
		}
		t.Logf("%d rows over %d operations and %d callers", rows, len(ops), len(matrixCallers))
	})
}
