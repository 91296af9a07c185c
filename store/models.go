package store

import (
	"time"

	"github.com/tokend/tokend/internal/rules"
)

// The entities are the rules' own (internal/rules); the store maps them
// to tables. Aliases keep the store's vocabulary.
type (
	// Client is a company account (clients table).
	Client = rules.Client
	// User is a user (users table).
	User = rules.User
	// Token is an API token (tokens table).
	Token = rules.Token
	// Session is a sign-in session (sessions table).
	Session = rules.Session
	// Credential is what a presented value resolves to.
	Credential = rules.Credential
	// Scope is the set of companies a caller may see (R18).
	Scope = rules.Scope
	// TokenVisibility is what tokens a caller may see (R6).
	TokenVisibility = rules.Visibility
)

// GraceDigest keeps a renewed token's old value working until ExpiresAt (R10).
type GraceDigest struct {
	Digest    []byte `gorm:"primaryKey"`
	TokenID   int64
	ExpiresAt time.Time
}

// TableName pins the table name GORM would otherwise guess.
func (GraceDigest) TableName() string { return "token_grace_digests" }

// Node is a filter node, the resource Deploy tokens exist for.
type Node struct {
	ID       int64
	UUID     string `gorm:"column:uuid"`
	ClientID int64
	Name     string
	// Type is Wallarm's node type (cloud_node, node, fast_node).
	Type string
	// TokenID is the Deploy token the node was registered with
	// (rules.NodeToken); nil when it has none.
	TokenID   *int64
	CreatedBy *int64
	CreatedAt time.Time
}
