package main

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tokend/tokend/gen/client"
)

// Guard admits a request only if its token (X-WallarmApi-Token or
// Authorization: Bearer) is active and grants permission: 401 when it is
// not active, 403 when it lacks the permission, 502 when tokend cannot
// answer. A real service would cache the answers for a few seconds.
func Guard(tokend *client.ClientWithResponses, permission string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("X-WallarmApi-Token")
		if h := r.Header.Get("Authorization"); token == "" && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			token = strings.TrimSpace(h[7:])
		}
		if token == "" {
			http.Error(w, "a token is required", http.StatusUnauthorized)
			return
		}
		resp, err := tokend.VerifyTokenWithResponse(r.Context(), client.VerifyRequest{Token: token, Permission: &permission})
		if err != nil || resp.JSON200 == nil {
			http.Error(w, "cannot verify the token now", http.StatusBadGateway)
			return
		}
		v := resp.JSON200
		switch {
		case !v.Active:
			http.Error(w, "invalid token", http.StatusUnauthorized)
		case v.PermissionGranted == nil || !*v.PermissionGranted:
			http.Error(w, "this token lacks "+permission, http.StatusForbidden)
		default:
			r.Header.Set("X-Token-Id", strconv.FormatInt(*v.TokenId, 10))
			next.ServeHTTP(w, r)
		}
	})
}
