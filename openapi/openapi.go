// Package openapi embeds holdline's contracts: holdline.yaml (the data
// plane, which CRM connectors generate clients from) and admin.yaml (the
// admin plane). The generated server code lives in gateway/api and
// gateway/adminapi.
package openapi

import _ "embed"

// DataPlane is openapi/holdline.yaml, served at GET /openapi.yaml.
//
//go:embed holdline.yaml
var DataPlane []byte

// AdminPlane is openapi/admin.yaml.
//
//go:embed admin.yaml
var AdminPlane []byte
