package server

import (
	"context"
	"errors"
	"strconv"

	"github.com/google/uuid"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/identity"
	"github.com/tokend/tokend/internal/perm"
	"github.com/tokend/tokend/internal/rules"
	"github.com/tokend/tokend/store"
)

// WallarmReadUsers is POST /v1/objects/user: the users in scope that match
// the filter (wallarm-go UserRead; Terraform's user read by id).
func (s *Server) WallarmReadUsers(ctx context.Context, req api.WallarmReadUsersRequestObject) (api.WallarmReadUsersResponseObject, error) {
	b := req.Body
	var f api.WallarmUserFilter
	if b.Filter.IsSpecified() && !b.Filter.IsNull() {
		f = b.Filter.MustGet()
	}
	q, ok := userQuery(f.Id, f.Clientid, f.Uuid, f.Email, f.Username)
	if !ok {
		return api.WallarmReadUsers200JSONResponse{Body: api.WallarmUsersEnvelope{Status: wallarmOK, Body: []api.WallarmUser{}}}, nil
	}
	q.Limit, q.Offset = offsetOf(b.Limit, b.Offset)
	q.OrderBy, q.Desc = string(deref(b.OrderBy)), deref(b.OrderDesc)
	rows, err := s.store.FindUsers(ctx, principalFrom(ctx).Scope(), q)
	if err != nil {
		return nil, err
	}
	return api.WallarmReadUsers200JSONResponse{Body: api.WallarmUsersEnvelope{Status: wallarmOK, Body: mapSlice(rows, wallarmUser)}}, nil
}

// WallarmCreateUser is POST /v1/objects/user/create, as rules.NewUser
// decides (R16, R17, R22). An e-mail another user has is a conflict,
// which this route answers as Wallarm does (409, "Already exists").
func (s *Server) WallarmCreateUser(ctx context.Context, req api.WallarmCreateUserRequestObject) (api.WallarmCreateUserResponseObject, error) {
	p, b, now := principalFrom(ctx), req.Body, s.now().UTC()
	email, err := identity.CanonicalEmail(b.Email)
	if err != nil {
		return nil, fieldRefusal("/email", err.Error())
	}
	if u := deref(b.Username); u != "" && canonical(u) != canonical(b.Email) {
		return nil, badRequest("username must be empty or the e-mail address: tokend's users sign in with their e-mail")
	}
	want := rules.NewUserRequest{
		UUID: uuid.NewString(), Email: email, EmailSkeleton: identity.Skeleton(email), Realname: b.Realname, Role: perm.Role(b.Permissions[0]),
		Enabled: b.Enabled == nil || *b.Enabled, APIAccess: true,
	}
	if pw := deref(b.Password); pw != "" {
		h, err := s.hashPassword(ctx, pw)
		if err != nil {
			return nil, err
		}
		want.PasswordHash = &h
	}
	var u *store.User
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if id := deref(b.Clientid); id != 0 && id != p.Client.ID {
			c, err := tx.Client(p.Scope(), id)
			if err != nil {
				return notFoundAs(err, "client")
			}
			want.Company = c
		}
		var events []rules.Event
		var err error
		if u, events, err = rules.NewUser(p.caller(), want, now); err != nil {
			return err
		}
		return tx.Apply(events...)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, rules.Refuse(rules.CodeEmailTaken, "a user with this e-mail address already exists")
	}
	if err != nil {
		return nil, err
	}
	return api.WallarmCreateUser200JSONResponse{Body: api.WallarmUserEnvelope{Status: wallarmOK, Body: wallarmUser(u)}}, nil
}

// WallarmUpdateUser is POST /v1/objects/user/update: rules.ChangeUser on
// every user in scope the filter names, in one transaction (R11, R12, R15,
// R16, R17, R21, R22). Users do not move between companies: a clientid
// other than the user's own is refused.
func (s *Server) WallarmUpdateUser(ctx context.Context, req api.WallarmUpdateUserRequestObject) (api.WallarmUpdateUserResponseObject, error) {
	p, b, now := principalFrom(ctx), req.Body, s.now().UTC()
	ff := b.Filter
	q, ok := userQuery(ff.Id, ff.Clientid, ff.Uuid, ff.Email, ff.Username)
	if !ok {
		return api.WallarmUpdateUser200JSONResponse{Body: api.WallarmUsersEnvelope{Status: wallarmOK, Body: []api.WallarmUser{}}}, nil
	}
	q.Limit, q.Offset = offsetOf(b.Limit, b.Offset)
	q.OrderBy, q.Desc = string(deref(b.OrderBy)), deref(b.OrderDesc)
	f := b.Fields
	ch := rules.UserChange{Realname: f.Realname, Enabled: f.Enabled}
	if f.Permissions != nil {
		r := perm.Role((*f.Permissions)[0])
		ch.Role = &r
	}
	if pw := deref(f.Password); pw != "" {
		h, err := s.hashPassword(ctx, pw)
		if err != nil {
			return nil, err
		}
		ch.PasswordHash = &h
	}
	var changed []store.User
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		changed = nil
		targets, err := tx.LockUsers(p.Scope(), q)
		if err != nil {
			return err
		}
		for i := range targets {
			if id := deref(f.Clientid); id != 0 && id != targets[i].ClientID {
				return badRequest("fields.clientid must be the user's own company: users do not move between companies")
			}
			tokens, err := tx.PersonalTokens(targets[i].ID)
			if err != nil {
				return err
			}
			out, err := rules.ChangeUser(p.caller(), targets[i], ch, tokens, now)
			if err != nil {
				return err
			}
			if err := tx.Apply(out.Events...); err != nil {
				return err
			}
			changed = append(changed, *out.User)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ch.PasswordHash != nil {
		for _, u := range changed {
			s.guard.passwords.forget(strconv.FormatInt(u.ID, 10))
		}
	}
	return api.WallarmUpdateUser200JSONResponse{Body: api.WallarmUsersEnvelope{Status: wallarmOK, Body: mapSlice(changed, wallarmUser)}}, nil
}

// WallarmDeleteUser is POST /v1/objects/user/delete: rules.MayDeleteUser
// on every user in scope the filter names, with their personal tokens
// (R11). It answers the ids deleted.
func (s *Server) WallarmDeleteUser(ctx context.Context, req api.WallarmDeleteUserRequestObject) (api.WallarmDeleteUserResponseObject, error) {
	p, ff := principalFrom(ctx), req.Body.Filter
	q, ok := userQuery(ff.Id, ff.Clientid, ff.Uuid, ff.Email, ff.Username)
	deleted := []int64{}
	if !ok {
		return api.WallarmDeleteUser200JSONResponse{Body: api.WallarmIDsEnvelope{Status: wallarmOK, Body: deleted}}, nil
	}
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		deleted = []int64{}
		targets, err := tx.LockUsers(p.Scope(), q)
		if err != nil {
			return err
		}
		for i := range targets {
			n, err := tx.CountPersonalTokens(targets[i].ID)
			if err != nil {
				return err
			}
			events, err := rules.MayDeleteUser(p.caller(), &targets[i], n)
			if err != nil {
				return err
			}
			if err := tx.Apply(events...); err != nil {
				return err
			}
			deleted = append(deleted, targets[i].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return api.WallarmDeleteUser200JSONResponse{Body: api.WallarmIDsEnvelope{Status: wallarmOK, Body: deleted}}, nil
}

// userQuery turns Wallarm's user filter into a store query. username is
// the e-mail in tokend; a filter whose e-mail and username disagree names
// nobody (ok false).
func userQuery(id *int64, clientIDs *[]int64, uuid, email, username *string) (store.UserQuery, bool) {
	q := store.UserQuery{ID: deref(id), UUID: canonical(deref(uuid)), Email: canonical(deref(email))}
	if clientIDs != nil {
		q.ClientIDs = *clientIDs
	}
	if u := canonical(deref(username)); u != "" {
		if q.Email != "" && q.Email != u {
			return q, false
		}
		q.Email = u
	}
	return q, true
}
