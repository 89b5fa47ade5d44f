# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on a minimal, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/crossroads ./cmd/crossroads

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crossroads /usr/local/bin/crossroads
USER nonroot:nonroot
EXPOSE 8080
ENV CROSSROADS_ADDR=0.0.0.0:8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/local/bin/crossroads", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/crossroads"]
CMD ["serve"]
