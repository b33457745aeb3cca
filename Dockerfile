# syntax=docker/dockerfile:1
# Multi-stage: a static binary on distroless, as a non-root user. No
# HEALTHCHECK: Kubernetes probes use /healthz and /readyz on the admin port.
# The build tags are the Makefile's TAGS (why: see there).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -tags grpcnotrace,disable_grpc_modules -ldflags "-s -w -X main.version=${VERSION}" -o /out/holdline ./cmd/holdline

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/holdline /holdline
USER nonroot:nonroot
VOLUME ["/var/lib/holdline"]
EXPOSE 9902
ENTRYPOINT ["/holdline"]
# The data plane and the admin plane stay on loopback (the middleware and an
# operator's `kubectl exec ... holdline status` share the pod); only the
# probe listener, which serves /healthz and /readyz and nothing else, is on
# the pod IP for the kubelet.
CMD ["serve", "--config", "/etc/holdline/holdline.yaml", "--listen", "127.0.0.1:8080", "--admin-listen", "127.0.0.1:9901", "--probe-listen", "0.0.0.0:9902"]
