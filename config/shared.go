package config

import "github.com/vigie-monitoring/vigie/internal/schema"

// Headers are header fields written in a module (an http module's
// `headers`, a websocket module's `http_config.headers`). They marshal
// with the values of non-public headers (schema.IsPublicHeader) masked.
type Headers = schema.Headers
