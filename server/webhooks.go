package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/tokend/tokend/gen/api"
	"github.com/tokend/tokend/internal/notify"
	"github.com/tokend/tokend/store"
)

// ListWebhooks lists the webhooks of the companies in scope.
func (s *Server) ListWebhooks(ctx context.Context, req api.ListWebhooksRequestObject) (api.ListWebhooksResponseObject, error) {
	pg, err := page(req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	rows, next, err := s.store.ListWebhooks(ctx, principalFrom(ctx).Scope(), pg)
	if err != nil {
		return nil, err
	}
	return api.ListWebhooks200JSONResponse{Body: api.WebhookList{Items: mapSlice(rows, apiWebhook), NextCursor: nullOf(encodeCursor(next))}}, nil
}

// CreateWebhook subscribes a URL and returns its signing secret once.
func (s *Server) CreateWebhook(ctx context.Context, req api.CreateWebhookRequestObject) (api.CreateWebhookResponseObject, error) {
	p, body := principalFrom(ctx), req.Body
	if err := s.checkWebhookURL(body.Url); err != nil {
		return nil, err
	}
	clientID := p.Client.ID
	if body.ClientId != nil && *body.ClientId != clientID {
		c, err := s.store.GetClient(ctx, p.Scope(), *body.ClientId)
		if err != nil {
			return nil, notFoundAs(err, "client")
		}
		clientID = c.ID
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	signingKey := "whsec_" + base64.RawURLEncoding.EncodeToString(raw)
	w := &store.Webhook{UUID: uuid.NewString(), ClientID: clientID, URL: body.Url, Events: webhookEvents(body.Events),
		Enabled: body.Enabled == nil || *body.Enabled, CreatedBy: userIDPtr(p)}
	ct, keyID, err := s.keys.Seal(signingKey, w.AAD())
	if err != nil {
		return nil, err
	}
	w.SecretCiphertext, w.SecretKeyID = ct, keyID
	if err := s.store.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	m := apiWebhook(w)
	return api.CreateWebhook201JSONResponse{Body: api.WebhookWithSecret{Id: m.Id, ClientId: m.ClientId, Url: m.Url, Events: m.Events, Enabled: m.Enabled,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Secret: signingKey}}, nil
}

// GetWebhook reads a webhook in scope.
func (s *Server) GetWebhook(ctx context.Context, req api.GetWebhookRequestObject) (api.GetWebhookResponseObject, error) {
	w, err := s.store.GetWebhook(ctx, principalFrom(ctx).Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "webhook")
	}
	return api.GetWebhook200JSONResponse{Body: apiWebhook(w)}, nil
}

// UpdateWebhook changes the fields present.
func (s *Server) UpdateWebhook(ctx context.Context, req api.UpdateWebhookRequestObject) (api.UpdateWebhookResponseObject, error) {
	body := req.Body
	if body.Url != nil {
		if err := s.checkWebhookURL(*body.Url); err != nil {
			return nil, err
		}
	}
	w, err := s.store.UpdateWebhook(ctx, principalFrom(ctx).Scope(), req.Id, func(w *store.Webhook) error {
		if body.Url != nil {
			w.URL = *body.Url
		}
		if body.Events != nil {
			w.Events = webhookEvents(*body.Events)
		}
		if body.Enabled != nil {
			w.Enabled = *body.Enabled
		}
		return nil
	})
	if err != nil {
		return nil, notFoundAs(err, "webhook")
	}
	return api.UpdateWebhook200JSONResponse{Body: apiWebhook(w)}, nil
}

// DeleteWebhook deletes a webhook in scope.
func (s *Server) DeleteWebhook(ctx context.Context, req api.DeleteWebhookRequestObject) (api.DeleteWebhookResponseObject, error) {
	if err := s.store.DeleteWebhook(ctx, principalFrom(ctx).Scope(), req.Id); err != nil {
		return nil, notFoundAs(err, "webhook")
	}
	return api.DeleteWebhook204Response{}, nil
}

// ListWebhookDeliveries lists a webhook's delivery log.
func (s *Server) ListWebhookDeliveries(ctx context.Context, req api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error) {
	w, err := s.store.GetWebhook(ctx, principalFrom(ctx).Scope(), req.Id)
	if err != nil {
		return nil, notFoundAs(err, "webhook")
	}
	pg, err := page(req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	rows, next, err := s.store.ListDeliveries(ctx, w.ID, pg)
	if err != nil {
		return nil, err
	}
	return api.ListWebhookDeliveries200JSONResponse{Body: api.DeliveryList{Items: mapSlice(rows, apiDelivery), NextCursor: nullOf(encodeCursor(next))}}, nil
}

// checkWebhookURL refuses a URL the webhook policy does not allow (SSRF):
// a 400 naming the field and the reason class, never the URL.
func (s *Server) checkWebhookURL(raw string) error {
	if err := notify.CheckURL(raw, s.cfg.WebhookPolicy); err != nil {
		return &Problem{Status: http.StatusBadRequest, Kind: "validation", Detail: "/url: " + err.Error(),
			Fields: []api.FieldProblem{{Field: "/url", Message: err.Error()}}}
	}
	return nil
}

func webhookEvents(in []api.WebhookEvent) []string {
	out := make([]string, len(in))
	for i, e := range in {
		out[i] = string(e)
	}
	return out
}

func apiWebhook(w *store.Webhook) api.Webhook {
	events := make([]api.WebhookEvent, len(w.Events))
	for i, e := range w.Events {
		events[i] = api.WebhookEvent(e)
	}
	return api.Webhook{Id: w.ID, ClientId: w.ClientID, Url: w.URL, Events: events, Enabled: w.Enabled,
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
}

func apiDelivery(d *store.Delivery) api.Delivery {
	out := api.Delivery{Id: d.ID, WebhookId: d.WebhookID, Event: api.WebhookEvent(d.Event), Status: api.DeliveryStatus(d.Status),
		Attempts: int32(d.Attempts), LastError: nullOf(d.LastError), CreatedAt: d.CreatedAt.UTC(),
		DeliveredAt: nullTime(d.DeliveredAt), NextAttemptAt: nullTime(d.NextAttemptAt)}
	out.ResponseStatus = nullable.NewNullNullable[int32]()
	if d.ResponseStatus != nil {
		out.ResponseStatus = nullable.NewNullableWithValue(int32(*d.ResponseStatus))
	}
	return out
}
