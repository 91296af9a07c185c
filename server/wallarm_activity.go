package server

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/store"
)

// WallarmActivityEvents is GET /v1/activity_log/{client}/events
// (wallarm-go ActivityLogEventsRead): one company's activity log in
// Wallarm's shape. tokend's action `token.create` is object type
// `api_token`, action type `create`; outcomes are all `success` (refusals
// are not in the log, except refused value reads, which are their own
// action); source is `api` for what a request did, `system` for what
// tokend did itself (expiry, purge).
func (s *Server) WallarmActivityEvents(ctx context.Context, req api.WallarmActivityEventsRequestObject) (api.WallarmActivityEventsResponseObject, error) {
	p, q := principalFrom(ctx), req.Params
	if _, err := s.store.GetClient(ctx, p.Scope(), req.Client); err != nil {
		return nil, notFoundAs(err, "client")
	}
	empty := api.WallarmActivityEvents200JSONResponse{Body: api.WallarmActivityEnvelope{Status: wallarmOK, Body: api.WallarmActivityPage{Objects: []api.WallarmActivityEvent{}}}}
	aq := store.ActivityQuery{ClientID: req.Client, Desc: deref(q.OrderDesc)}
	aq.Limit, aq.Offset = offsetOf(q.Limit, q.Offset)
	actions, some := wallarmActions(deref(q.FilterObjectTypes), deref(q.FilterActionTypes))
	if !some {
		return empty, nil
	}
	aq.Actions = actions
	if o := deref(q.FilterOutcomes); len(o) > 0 && !slices.Contains(o, "success") {
		return empty, nil
	}
	if src := deref(q.FilterSources); len(src) > 0 {
		byAPI, system := slices.Contains(src, "api"), slices.Contains(src, "system")
		switch {
		case !byAPI && !system:
			return empty, nil
		case byAPI != system:
			aq.ByCaller = &byAPI
		}
	}
	if q.FilterActorIDs != nil {
		aq.ActorIDs = *q.FilterActorIDs
	}
	if q.FilterTimeStart != nil {
		t := time.Unix(*q.FilterTimeStart, 0)
		aq.Since = &t
	}
	if q.FilterTimeEnd != nil {
		t := time.Unix(*q.FilterTimeEnd, 0)
		aq.Until = &t
	}
	rows, err := s.store.FindActivity(ctx, p.Scope(), aq)
	if err != nil {
		return nil, err
	}
	empty.Body.Body.Objects = mapSlice(rows, wallarmEvent)
	return empty, nil
}

// wallarmObjectTypes maps tokend's action prefixes to Wallarm's object types.
var wallarmObjectTypes = map[string]api.WallarmObjectType{"token": api.WallarmObjectTypeApiToken, "user": api.WallarmObjectTypeUser, "client": api.WallarmObjectTypeClient}

// wallarmActions is the set of tokend actions the Wallarm filters name
// (none given: every action, nil); some is false when the filters name
// no action at all.
func wallarmActions(objectTypes []api.WallarmObjectType, actionTypes []string) (actions []string, some bool) {
	if len(objectTypes) == 0 && len(actionTypes) == 0 {
		return nil, true
	}
	for _, a := range store.Actions() {
		object, action, _ := strings.Cut(a, ".")
		if len(objectTypes) > 0 && !slices.Contains(objectTypes, wallarmObjectTypes[object]) {
			continue
		}
		if len(actionTypes) > 0 && !slices.Contains(actionTypes, action) {
			continue
		}
		actions = append(actions, a)
	}
	return actions, len(actions) > 0
}

func wallarmEvent(e *store.Event) api.WallarmActivityEvent {
	object, action, _ := strings.Cut(e.Action, ".")
	ev := api.WallarmActivityEvent{
		Id: e.ID, Time: e.CreatedAt.Unix(), ActionType: action, ObjectType: wallarmObjectTypes[object],
		Outcome: api.Success, Source: api.System, ClientId: e.ClientID,
		Initiator:     api.WallarmActor{Id: nullOf(e.ActorUserID), ClientId: e.ClientID},
		ObjectId:      nullable.NewNullNullable[string](),
		ChangedFields: []string{},
		Object:        api.WallarmActivityObject{Name: e.Details["name"]},
	}
	if e.ActorUserID != nil || e.ActorTokenID != nil || e.IP != nil {
		ev.Source = api.Api
	}
	switch {
	case object == "token" && e.TokenID != nil:
		ev.ObjectId = nullable.NewNullableWithValue(strconv.FormatInt(*e.TokenID, 10))
	case object == "user" && e.UserID != nil:
		ev.ObjectId = nullable.NewNullableWithValue(strconv.FormatInt(*e.UserID, 10))
	case object == "client":
		id := strconv.FormatInt(e.ClientID, 10)
		if d := e.Details["deleted_client_id"]; d != "" {
			id = d
		}
		ev.ObjectId = nullable.NewNullableWithValue(id)
	}
	if f := e.Details["fields"]; f != "" {
		ev.ChangedFields = strings.Split(f, ",")
	}
	return ev
}
