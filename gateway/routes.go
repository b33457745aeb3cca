package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/gateway/api"
)

// Handlers builds the data-plane and admin-plane handlers. Middleware
// order, outermost first: request ID, panic recovery, metrics and access
// log, body limit; then per plane: OpenAPI validation (both), admin auth
// (admin mutations). The handlers are built once; later calls return them.
func (s *Server) Handlers() (data, admin http.Handler, err error) {
	s.handlersOnce.Do(func() {
		s.dataH, s.adminH, s.handlersErr = s.buildHandlers()
	})
	return s.dataH, s.adminH, s.handlersErr
}

func (s *Server) buildHandlers() (data, admin http.Handler, err error) {
	m := newHTTPMetrics(s.opts.Registry)

	dr, ar, err := parseSpecs()
	if err != nil {
		return nil, nil, err
	}
	dv, av := &validator{router: dr, log: s.log}, &validator{router: ar, log: s.log}

	// Data plane: every route comes from the spec.
	d := chi.NewRouter()
	s.common(d, "data", m)
	d.Use(readDeadline(s.opts.BodyTimeout, s.opts.BodyIdleTimeout, isRecordingUpload))
	d.Use(limitBody(s.opts.MaxBodyBytes, isRecordingUpload, s.log))
	api.HandlerWithOptions(api.NewStrictHandlerWithOptions(s, nil, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc:  s.requestError,
		ResponseErrorHandlerFunc: s.responseError,
	}), api.ChiServerOptions{
		BaseRouter:       d,
		Middlewares:      []api.MiddlewareFunc{dv.middleware},
		ErrorHandlerFunc: s.requestError,
	})

	// Admin plane: the spec's routes, /v1/admin/* behind the token, plus
	// the non-API pages (/ui, dev-mode inspection routes).
	a := chi.NewRouter()
	s.common(a, "admin", m)
	a.Use(readDeadline(s.opts.BodyTimeout, s.opts.BodyIdleTimeout, func(*http.Request) bool { return false }))
	a.Use(limitBody(s.opts.MaxBodyBytes, func(*http.Request) bool { return false }, s.log))
	a.Use(s.withSessionOrBearer)
	auth := requireAdmin(s.tokens, s.log)
	a.Use(func(next http.Handler) http.Handler {
		protected := auth(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/admin/") || r.URL.Path == "/v1/admin" {
				protected.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	adminapi.HandlerWithOptions(adminapi.NewStrictHandlerWithOptions(s, nil, adminapi.StrictHTTPServerOptions{
		RequestErrorHandlerFunc:  s.requestError,
		ResponseErrorHandlerFunc: s.responseError,
	}), adminapi.ChiServerOptions{
		BaseRouter:       a,
		Middlewares:      []adminapi.MiddlewareFunc{av.middleware},
		ErrorHandlerFunc: s.requestError,
	})
	// /metrics is in the spec; promhttp serves it (registered after the
	// generated routes so it replaces the generated handler).
	a.Method(http.MethodGet, "/metrics", s.metricsHandler())
	a.Get("/ui", s.statusPage)
	a.Post("/ui/login", s.uiLogin)
	a.Post("/ui/logout", s.uiLogout)
	a.Post("/ui/breaker", s.uiAction(s.uiBreaker))
	a.Post("/ui/endpoint", s.uiAction(s.uiEndpoint))
	for prefix, h := range s.opts.DevRoutes {
		a.Mount(prefix, h)
	}
	return d, a, nil
}

// common installs the middleware both planes share and problem+json
// answers for unknown routes and methods.
func (s *Server) common(r chi.Router, listener string, m *httpMetrics) {
	r.Use(requestID, recoverer(s.log), observe(listener, m, s.log))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, s.log, holdline.Errorf(holdline.ENOTFOUND, "", "no such route: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, s.log, holdline.Errorf(holdline.EMETHOD, "", "%s is not allowed on %s", r.Method, r.URL.Path))
	})
}

// requestError answers errors the generated code finds while binding a
// request (a bad path parameter, undecodable JSON).
func (s *Server) requestError(w http.ResponseWriter, r *http.Request, err error) {
	// A path parameter the validator let through (kin-openapi takes an
	// empty one, outbox//replay, as absent) is the caller's bad input.
	if pe, ok := errors.AsType[*api.InvalidParamFormatError](err); ok {
		err = holdline.Errorf(holdline.EINVALID, pe.ParamName, "parameter %q: %s", pe.ParamName, firstLine(pe.Err.Error()))
	} else if pe, ok := errors.AsType[*adminapi.InvalidParamFormatError](err); ok {
		err = holdline.Errorf(holdline.EINVALID, pe.ParamName, "parameter %q: %s", pe.ParamName, firstLine(pe.Err.Error()))
	}
	if problemFor(err).Status == http.StatusInternalServerError {
		err = holdline.Wrap(holdline.EMALFORMED, "", "the request could not be read: "+firstLine(err.Error()), err)
	}
	writeProblem(w, r, s.log, err)
}

// responseError answers errors a handler returns.
func (s *Server) responseError(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, r, s.log, err)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// parseSpecs parses the embedded data and admin specs and builds the
// validators' routers from them. The process does it once, at start.
func parseSpecs() (data, admin routers.Router, err error) {
	dataJSON, err := api.GetSpecJSON()
	if err != nil {
		return nil, nil, err
	}
	if data, err = specRouter(dataJSON); err != nil {
		return nil, nil, err
	}
	adminJSON, err := adminapi.GetSpecJSON()
	if err != nil {
		return nil, nil, err
	}
	if admin, err = specRouter(adminJSON); err != nil {
		return nil, nil, err
	}
	return data, admin, nil
}
