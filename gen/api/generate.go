// Package api is generated from openapi.yaml: models, the echo strict server
// interface and the embedded spec. Do not edit; run `make generate`.
package api

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config cfg.yaml ../../openapi.yaml
