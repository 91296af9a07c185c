package store

import (
	"time"
)

// Client is a company account: a top-level company, a partner's technical
// tenant, or a tenant linked to one (ParentID).
type Client struct {
	ID        int64
	UUID      string `gorm:"column:uuid"`
	Name      string
	Enabled   bool
	ParentID  *int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// User belongs to one client and holds one role.
type User struct {
	ID           int64
	UUID         string `gorm:"column:uuid"`
	ClientID     int64
	Email        string
	Realname     string
	Role         string
	Enabled      bool
	SSO          bool `gorm:"column:sso"`
	APIAccess    bool `gorm:"column:api_access"`
	PasswordHash *string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Token is an API token's row. The value itself is never stored in clear:
// Digest is its keyed HMAC (the lookup index) and SecretCiphertext, when
// secret retrieval is on, its AES-GCM encryption (R13).
type Token struct {
	ID                 int64
	ClientID           int64
	UserID             *int64
	Shared             bool
	Realname           string
	Permissions        StringList `gorm:"type:text"`
	SourceRole         string
	CapRole            string // shared tokens: the role that caps them (R3)
	Enabled            bool
	ExpireAt           *time.Time
	DisabledAt         *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
	RenewedAt          *time.Time
	CreatedBy          *int64
	LastUsedAt         *time.Time
	LastUsedIP         *string `gorm:"column:last_used_ip"`
	BackwardCompatible bool
	LegacyUUID         *string `gorm:"column:legacy_uuid"`
	Hint               string
	Digest             []byte
	DigestKeyID        *string // the key that made Digest; nil: before migration 00005 (see AdoptDigestKey)
	SecretCiphertext   NullBytes
	SecretKeyID        *string
	ExpiryNotifiedAt   *time.Time
}

// GraceDigest keeps a renewed token's old value working until ExpiresAt (R10).
type GraceDigest struct {
	Digest    []byte `gorm:"primaryKey"`
	TokenID   int64
	ExpiresAt time.Time
}

// TableName pins the table name GORM would otherwise guess.
func (GraceDigest) TableName() string { return "token_grace_digests" }

// Session is a sign-in session (R19).
type Session struct {
	ID          int64
	UserID      int64
	Digest      []byte
	DigestKeyID *string // the key that made Digest; nil: before migration 00005
	ExpiresAt   time.Time
	CreatedAt   time.Time
}

// Node is a filter node, the resource Deploy tokens exist for.
type Node struct {
	ID        int64
	UUID      string `gorm:"column:uuid"`
	ClientID  int64
	Name      string
	CreatedBy *int64
	CreatedAt time.Time
}
