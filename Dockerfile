# Build: docker build -t nxray .
# Run:   docker run -p 53:53/udp -p 53:53/tcp nxray --upstream 192.0.2.53
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/nxray ./cmd/nxray

# A static binary needs nothing else: no shell, no libc, no CA bundle.
FROM scratch
COPY --from=build /out/nxray /nxray
# Docker lets unprivileged processes bind low ports inside the container
# (net.ipv4.ip_unprivileged_port_start=0), so nxray runs as nobody.
USER 65534:65534
ENV NXRAY_LISTEN=0.0.0.0:53
EXPOSE 53/udp 53/tcp 8053
ENTRYPOINT ["/nxray"]
CMD ["serve"]
