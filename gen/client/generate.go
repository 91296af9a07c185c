// Package client is the Go SDK for tokend, generated from openapi.yaml.
// Do not edit; run `make generate`.
package client

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config cfg.yaml ../../openapi.yaml
