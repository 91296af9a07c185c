package server

import (
	"context"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/store"
)

// ListActivity lists the activity log of the companies in scope.
func (s *Server) ListActivity(ctx context.Context, req api.ListActivityRequestObject) (api.ListActivityResponseObject, error) {
	pg, err := page(req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	f := store.ActivityFilter{TokenID: req.Params.TokenId, UserID: req.Params.UserId, Since: req.Params.Since, Until: req.Params.Until, Page: pg}
	if req.Params.Action != nil {
		a := string(*req.Params.Action)
		f.Action = &a
	}
	rows, next, err := s.store.ListActivity(ctx, principalFrom(ctx).Scope(), f)
	if err != nil {
		return nil, err
	}
	return api.ListActivity200JSONResponse{Body: api.ActivityList{Items: mapSlice(rows, apiActivity), NextCursor: nullOf(encodeCursor(next))}}, nil
}

func apiActivity(e *store.Event) api.Activity {
	return api.Activity{
		Id: e.ID, ClientId: e.ClientID, Action: api.ActivityAction(e.Action),
		ActorUserId: nullOf(e.ActorUserID), ActorTokenId: nullOf(e.ActorTokenID),
		TokenId: nullOf(e.TokenID), UserId: nullOf(e.UserID), Ip: nullOf(e.IP),
		CreatedAt: e.CreatedAt.UTC(), Details: map[string]string(e.Details),
	}
}
