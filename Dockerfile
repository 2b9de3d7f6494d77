# One image per service: docker build --build-arg SERVICE=api-gateway -t <registry>/api-gateway:<tag> .
# (SERVICE: api-gateway, workflow-agent, workflow-engine). The binary is static
# (pure-Go SQLite and PostgreSQL drivers), so the runtime image holds nothing else.
# Not built in this repository's CI (no Docker engine there); infra/ecs.tf runs these images.
FROM golang:1.26.8-bookworm AS build
ARG SERVICE
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN test -d "cmd/${SERVICE}" || (echo "SERVICE must be one of: $(ls cmd)" && false)
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/starmates-ai/ai-teams/internal/serve.Version=${VERSION}" \
      -o /out/service "./cmd/${SERVICE}"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/service /service
# SQLite when DATABASE_URL is unset (production sets DATABASE_URL).
ENV DATA_DIR=/tmp/data
USER nonroot
ENTRYPOINT ["/service"]
