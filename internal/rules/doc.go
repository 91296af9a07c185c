// Package rules is tokend's domain core: every rule of DESIGN.md (R1…R23)
// has its one home here, as pure functions over plain data. Nothing here
// knows HTTP or SQL or reads a clock: the caller, the objects and the time
// come in; a decision — the new state and its events, or a *Refusal —
// goes out. The handlers translate HTTP to these calls and back; the store
// loads, locks, and applies the events.
//
// Where each rule is decided:
//
//	R1  unknown names refused             permissionList (NewToken, UpdateToken); the catalog is internal/perm
//	R2  creation ceiling                  NewToken, UpdateToken: want ⊆ caller.Effective
//	R3  effective permissions at use      Admit, AtUse, Ceiling; at the door: MayCall
//	R4  personal tokens are the caller's  NewToken
//	R5  shared tokens                     NewToken (cap role), Ceiling, NodeToken
//	R6  visibility                        TokenVisibility
//	R7  expiration                        futureExpiry, Admit (expired), ExpireToken
//	R8  disable / enable                  UpdateToken, mayReenable; state moves only through transition
//	R9  secret retrieval                  MayReadValue, mayHandleValue
//	R10 renew with grace                  RenewToken (MaxGrace)
//	R11 owner disabled / deleted          cascade (ChangeUser), MayDeleteUser, Admit, mayReenable
//	R12 owner reduced                     cascade (ChangeUser)
//	R13 secrets at rest                   internal/secret (digest, seal); the store keeps what it makes
//	R14 purge                             PurgeBefore, PurgeAt
//	R15 backward-compatible tokens        ImportLegacy, RenewToken, cascade, UpdateToken (409)
//	R16 SSO                               Admit, cascade, NewUser/ChangeUser (no password), mayReenable
//	R17 no escalation through users       MayAssignRole, MayManageUser
//	R18 tenancy                           Scope, NewTenant, NewTenantUnder, PartnerOf, DeleteClient; the store filters every query by Scope
//	R19 sign-in                           SignIn, MayChangeOwnPassword, ChangeOwnPassword
//	R20 value ceiling                     mayHoldValue (read, renew, re-enable), UpdateToken (owner-ceiling), MayChangeOwnPassword
//	R21 scope at use                      Admit (reaches), cascade (out_of_scope), mayReenable
//	R22 administrators never become the user  NewUser/ChangeUser (one-time password, values dropped), SignIn, MayCall, ImportLegacy
//	R23 guessing is bounded               WrongPasswordLimit/Window; the counting is the server's guard
//
// Refusals carry a stable Code (Refusals is the one table); events are
// typed (events.go) and everything downstream is derived from them.
// TokenViolations, UserViolations and SessionViolations judge stored state
// with the same rules, for store.CheckInvariants.
package rules
