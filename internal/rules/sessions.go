package rules

import "time"

// Session lifetimes (R19, R22).
const (
	SessionLifetime        = 12 * time.Hour
	PasswordChangeLifetime = 15 * time.Minute
	WrongPasswordLimit     = 5                // wrong current passwords per account …
	WrongPasswordWindow    = 15 * time.Minute // … per this window, then 429 (R23)
)

// SignIn decides a password sign-in (R19, R22): the session to store, or
// ok false — and every "no" is the same 401, whatever the reason.
// passwordMatches is the shell's constant-time comparison, made even for
// an unknown user so that a sign-in takes as long either way.
func SignIn(u *User, company *Client, passwordMatches bool, now time.Time) (*Session, bool) {
	if u == nil || !passwordMatches || u.PasswordHash == nil || !u.Enabled || u.SSO ||
		company == nil || !company.Enabled {
		return nil, false
	}
	s := &Session{UserID: u.ID, Purpose: SessionFull, ExpiresAt: now.Add(SessionLifetime), CreatedAt: now}
	if u.PasswordOneTime {
		// R22: an administrator's password opens only the way to replace it.
		s.Purpose, s.ExpiresAt = SessionPasswordChange, now.Add(PasswordChangeLifetime)
	}
	return s, true
}

// MayChangeOwnPassword is who may call PUT /v1/user/password: a user
// signed in with a password (R20: an API token, however narrow, must not be
// a way to guess or replace the password, the broadest credential).
func MayChangeOwnPassword(c *Caller) error {
	if c.User == nil || !c.IsSession() {
		return refuse(CodeSessionRequired, "changing the password needs a signed-in session (POST /v1/login), not an API token (R20)")
	}
	if c.User.SSO {
		return errSSOPassword()
	}
	return nil
}

// WrongPassword is the refusal for a wrong current password (R19).
func WrongPassword() error {
	return refuse(CodeWrongPassword, "current_password is wrong")
}

// TooManyWrongPasswords is R23's refusal for an account that guessed too often.
func TooManyWrongPasswords() error {
	return refuse(CodePasswordGuessing, "too many wrong passwords for this account; retry later (R23)")
}

// ChangeOwnPassword decides a user's own password change (R19, R22): the
// new password is the user's own (no longer one-time), and every other
// session ends — the calling one too when it was a one-time-password
// session, so that the user signs in again with the new password.
func ChangeOwnPassword(c *Caller, u User, hash string, now time.Time) (*User, []Event) {
	u.PasswordHash, u.PasswordOneTime, u.UpdatedAt = &hash, false, now
	ended := SessionsEnded{User: &u, Except: c.SessionID, Cause: "password_changed"}
	if c.Kind == PasswordChangeCredential {
		ended.Except = 0
	}
	return &u, []Event{PasswordChanged{User: &u}, ended}
}
