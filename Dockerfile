# The operator's image, for builders that use Dockerfiles. `make image` builds the
# same image without a Docker daemon (internal/ociimage).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /plattr-operator ./cmd/plattr-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /plattr-operator /plattr-operator
USER 65532:65532
ENTRYPOINT ["/plattr-operator"]
