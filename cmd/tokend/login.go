package main

// tokend login, logout and servers: credentials kept in a file, so that
// nobody has to export TOKEND_TOKEN in every shell.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/tokend/tokend/gen/client"
)

type loginCmd struct {
	URL       string        `name:"url" env:"TOKEND_URL" placeholder:"URL" help:"The server (default: the current one, else http://127.0.0.1:8080). It becomes the current server."`
	Email     string        `name:"email" placeholder:"EMAIL" help:"Sign in with this e-mail and its password: prompted without echo on a terminal, else the first line of standard input."`
	WithToken bool          `name:"with-token" help:"Read an API token (or a tks_ session) from standard input, as gh auth login --with-token."`
	Timeout   time.Duration `name:"timeout" default:"30s" help:"Give up on a request after this long."`
	caFileFlag
	configFlag
}

func (c *loginCmd) Run(s *stdio) error {
	path, cfg, err := c.load(s)
	if err != nil {
		return err
	}
	base, err := normalizeURL(cmpOr(c.URL, cmpOr(cfg.Current, defaultURL)))
	if err != nil {
		return err
	}
	email := strings.TrimSpace(c.Email)
	if c.WithToken && email != "" {
		return usageErrorf("give --email or --with-token, not both")
	}
	if !c.WithToken && email == "" {
		if !s.terminal() {
			return usageErrorf("give --email (the password on standard input) or --with-token (the token on standard input)")
		}
		if email, err = s.prompt("E-mail: ", false); err != nil {
			return err
		}
		if email == "" {
			return usageErrorf("no e-mail given")
		}
	}
	a, err := newAPI(base, "", c.CAFile, c.Timeout, false, s)
	if err != nil {
		return err
	}
	var login storedLogin
	if c.WithToken {
		token, err := s.secretInput("Token: ", true)
		if err != nil {
			return err
		}
		if token == "" {
			return usageErrorf("--with-token: standard input is empty")
		}
		login = storedLogin{Token: token, Kind: kindAPIToken}
	} else {
		if login, err = a.signIn(email); err != nil {
			return err
		}
	}
	// Ask who this is: it proves the credential works before it is saved.
	a, err = newAPI(base, login.Token, c.CAFile, c.Timeout, false, s)
	if err != nil {
		return err
	}
	r, err := a.c.GetCurrentUserWithResponse(a.ctx)
	if err != nil {
		return a.sent(err)
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		var ee *exitError
		if errors.As(err, &ee) && ee.code == exitAuth {
			ee.msg = "401 Unauthorized: the server refused this token (wrong, expired, disabled or renewed); nothing was saved"
		}
		return err
	}
	me := r.JSON200
	if me == nil {
		return &exitError{code: exitInternal, msg: "the server's answer has no user"}
	}
	if me.TokenId == nil && login.Kind == kindAPIToken {
		login.Kind = kindSession // a tks_ value given with --with-token
	}
	login.User = me.Email
	if me.Id == 0 {
		login.User = fmt.Sprintf("shared token %q of %s", me.Realname, me.ClientName)
	}
	login.SavedAt = time.Now().UTC().Truncate(time.Second)

	key := base
	previous := cfg.Servers[key]
	cfg.Servers[key] = &login
	cfg.Current = key
	if err := cfg.save(path); err != nil {
		return err
	}
	if previous != nil && previous.Kind == kindSession && previous.Token != login.Token {
		// The session this login replaces is ended, not left behind.
		if old, err := newAPI(base, previous.Token, c.CAFile, 10*time.Second, false, s); err == nil {
			_, _ = old.c.LogoutWithResponse(old.ctx)
		}
	}
	what := "an API token"
	if login.Kind == kindSession {
		what = "a session"
		if login.ExpireAt != nil {
			what += " until " + fmtTime(*login.ExpireAt) + " (then tokend login again)"
		}
	}
	_, err = fmt.Fprintf(s.out, "Logged in to %s as %s (%s, %s) with %s.\nSaved in %s; commands use it unless --url/TOKEND_URL or --token/TOKEND_TOKEN say otherwise.\n",
		key, login.User, me.Role, me.ClientName, what, path)
	return err
}

func (f *configFlag) load(s *stdio) (string, *cliConfig, error) {
	path, err := configPath(f.Config)
	if err != nil {
		return "", nil, err
	}
	cfg, err := loadConfig(path, s.err)
	return path, cfg, err
}

// signIn trades e-mail and password for a session. A one-time password
// (R22: an administrator set it) is changed first, as the server demands:
// its session can do nothing else.
func (a *api) signIn(email string) (storedLogin, error) {
	password, err := a.io.secretInput("Password: ", false)
	if err != nil {
		return storedLogin{}, err
	}
	if password == "" {
		return storedLogin{}, usageErrorf("no password given (on a terminal it is prompted; otherwise it is the first line of standard input)")
	}
	sess, err := a.login(email, password)
	if err != nil {
		return storedLogin{}, err
	}
	if sess.PasswordChangeRequired {
		fmt.Fprintln(a.io.err, "tokend: this password was set by an administrator and works only to choose your own (R22).")
		fresh, err := a.io.newPassword()
		if err != nil {
			return storedLogin{}, err
		}
		once, err := newAPI(a.base, sess.Token, a.caFile, a.timeout, false, a.io)
		if err != nil {
			return storedLogin{}, err
		}
		r, err := once.c.ChangePasswordWithResponse(a.ctx, client.PasswordChange{CurrentPassword: password, NewPassword: fresh})
		if err != nil {
			return storedLogin{}, once.sent(err)
		}
		if err := once.check(r.HTTPResponse, r.Body); err != nil {
			return storedLogin{}, err
		}
		fmt.Fprintln(a.io.err, "tokend: password changed; signing in with the new one.")
		// The change ended the one-time session: sign in again.
		if sess, err = a.login(email, fresh); err != nil {
			return storedLogin{}, err
		}
		if sess.PasswordChangeRequired {
			return storedLogin{}, &exitError{code: exitInternal, msg: "the server still asks for a password change after the change"}
		}
	}
	exp := sess.ExpireAt.UTC()
	return storedLogin{Token: sess.Token, Kind: kindSession, ExpireAt: &exp}, nil
}

func (a *api) login(email, password string) (*client.Session, error) {
	r, err := a.c.LoginWithResponse(a.ctx, client.LoginRequest{Email: email, Password: password})
	if err != nil {
		return nil, a.sent(err)
	}
	if r.StatusCode() == 401 {
		return nil, &exitError{code: exitAuth, msg: "401 Unauthorized: wrong e-mail or password (or the user is disabled, or signs in with SSO)"}
	}
	if err := a.check(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	if r.JSON200 == nil {
		return nil, &exitError{code: exitInternal, msg: "the server's answer has no session"}
	}
	return r.JSON200, nil
}

// logout

type logoutCmd struct {
	URL     string        `name:"url" env:"TOKEND_URL" placeholder:"URL" help:"The server to forget (default: the current one)."`
	Timeout time.Duration `name:"timeout" default:"10s" help:"Give up on ending the session after this long."`
	caFileFlag
	configFlag
}

// Run forgets the server's credential; a session is ended on the server
// first, so that a copy of the file is worth nothing. An API token is only
// forgotten: it is the user's to disable or delete.
func (c *logoutCmd) Run(s *stdio) error {
	path, cfg, err := c.load(s)
	if err != nil {
		return err
	}
	base := c.URL
	if base == "" {
		base = cfg.Current
	}
	if base == "" {
		fmt.Fprintln(s.err, "tokend: not logged in to any server")
		return nil
	}
	key, err := normalizeURL(base)
	if err != nil {
		return err
	}
	login := cfg.Servers[key]
	if login == nil {
		fmt.Fprintf(s.err, "tokend: not logged in to %s\n", key)
		return nil
	}
	note := "the API token itself still works: tokend tokens disable or delete it when it is no longer needed"
	if login.Kind == kindSession {
		note = "the session was ended on the server"
		a, err := newAPI(key, login.Token, c.CAFile, c.Timeout, false, s)
		if err != nil {
			return err
		}
		r, err := a.c.LogoutWithResponse(a.ctx)
		switch {
		case err != nil:
			note = fmt.Sprintf("the server could not be told (%v): the session ends by itself at %s", unwrapURLError(err), fmtOptTime(login.ExpireAt, "its expiry"))
		case r.StatusCode() == 401:
			note = "the session had already ended"
		case r.StatusCode() != 204:
			note = fmt.Sprintf("the server answered %d: the session ends by itself at %s", r.StatusCode(), fmtOptTime(login.ExpireAt, "its expiry"))
		}
	}
	delete(cfg.Servers, key)
	if cfg.Current == key {
		cfg.Current = ""
	}
	if err := cfg.save(path); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.out, "Logged out of %s: %s.\n", key, note)
	return err
}

// servers: what tokend login stored

type serversCmd struct {
	configFlag
	List serversListCmd `cmd:"" default:"1" help:"List the servers tokend login stored; * marks the current one."`
	Use  serversUseCmd  `cmd:"" help:"Make a stored server the current one."`
}

// AfterApply hands --config to the subcommands (the flag is the group's,
// so that it also works with the default list).
func (c *serversCmd) AfterApply(kctx *kong.Context) error {
	kctx.Bind(&c.configFlag)
	return nil
}

type serversListCmd struct{}

func (serversListCmd) Run(s *stdio, c *configFlag) error {
	_, cfg, err := c.load(s)
	if err != nil {
		return err
	}
	if len(cfg.Servers) == 0 {
		_, err := fmt.Fprintln(s.out, "no servers: tokend login stores one")
		return err
	}
	a := &api{io: s}
	rows := [][]string{}
	for _, u := range cfg.serverNames() {
		l := cfg.Servers[u]
		mark := ""
		if u == cfg.Current {
			mark = "*"
		}
		kind := "API token"
		if l.Kind == kindSession {
			kind = "session until " + fmtOptTime(l.ExpireAt, "?")
		}
		rows = append(rows, []string{mark, u, orDash(l.User), kind})
	}
	return a.table([]string{"", "URL", "USER", "CREDENTIAL"}, rows)
}

type serversUseCmd struct {
	URL string `arg:"" name:"url" help:"A server tokend login stored."`
}

func (c *serversUseCmd) Run(s *stdio, f *configFlag) error {
	path, cfg, err := f.load(s)
	if err != nil {
		return err
	}
	key, err := normalizeURL(c.URL)
	if err != nil {
		return err
	}
	if cfg.Servers[key] == nil {
		return usageErrorf("%s is not stored (tokend servers lists them): tokend login --url %s", key, key)
	}
	cfg.Current = key
	if err := cfg.save(path); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.out, "Commands now go to %s as %s.\n", key, cfg.Servers[key].User)
	return err
}

// Reading what people type.

// terminal reports whether standard input is a terminal, where prompts
// make sense and passwords are read without echo.
func (s *stdio) terminal() bool {
	f, ok := s.in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// line reads the next line of standard input, without its line ending.
func (s *stdio) line() (string, error) {
	if s.in == nil {
		return "", nil
	}
	if s.lines == nil {
		s.lines = bufio.NewReader(s.in)
	}
	l, err := s.lines.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	return strings.TrimRight(l, "\r\n"), nil
}

// prompt asks on standard error and reads a line: without echo when
// secret and on a terminal.
func (s *stdio) prompt(label string, secret bool) (string, error) {
	if !s.terminal() {
		return s.line()
	}
	fmt.Fprint(s.err, label)
	if !secret {
		return s.line()
	}
	b, err := term.ReadPassword(int(s.in.(*os.File).Fd()))
	fmt.Fprintln(s.err)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}

// secretInput is a password or token: prompted without echo on a
// terminal; otherwise the next line of standard input (all of it, trimmed,
// when whole is set: a token file may end in a newline or not).
func (s *stdio) secretInput(label string, whole bool) (string, error) {
	if s.terminal() || !whole {
		v, err := s.prompt(label, true)
		if whole {
			v = strings.TrimSpace(v)
		}
		return v, err
	}
	if s.in == nil {
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(s.in, 8192))
	if err != nil {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// newPassword asks for a new password twice on a terminal; otherwise it is
// the next line of standard input (the one after the one-time password).
func (s *stdio) newPassword() (string, error) {
	if !s.terminal() {
		pw, err := s.line()
		if err == nil && pw == "" {
			err = usageErrorf("the password was one-time (R22): give your new password on the line after it on standard input")
		}
		return pw, err
	}
	for range 3 {
		pw, err := s.prompt("New password (at least 8 characters): ", true)
		if err != nil {
			return "", err
		}
		again, err := s.prompt("New password again: ", true)
		if err != nil {
			return "", err
		}
		if pw == again && pw != "" {
			return pw, nil
		}
		fmt.Fprintln(s.err, "tokend: the two did not match, or were empty; again.")
	}
	return "", usageErrorf("no new password chosen")
}
