# Build: docker build -t nxray .
# Run:   docker run -d --name nxray -p 53:53/udp -p 53:53/tcp -e NXRAY_UPSTREAMS=192.0.2.53 nxray
# The status page, the demo and the state volume: README.md, "In a container".
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git, so the version and revision are passed in:
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse HEAD) -t nxray .
ARG VERSION=""
ARG REVISION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
      -X github.com/nxray/nxray/internal/version.version=${VERSION} \
      -X github.com/nxray/nxray/internal/version.revision=${REVISION}" \
    -o /out/nxray ./cmd/nxray
# The rest of the image's tree: a /tmp (nxray demo writes its lab's trust
# anchors there; os.MkdirTemp fails without one) and the state directory,
# owned by the user nxray runs as. COPY --from keeps modes and owners.
RUN mkdir -p /rootfs/tmp /rootfs/var/lib/nxray \
 && chmod 1777 /rootfs/tmp \
 && chown 65534:65534 /rootfs/var/lib/nxray \
 && chmod 0700 /rootfs/var/lib/nxray

# A static binary needs nothing else: no shell, no libc, no CA bundle.
FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build /out/nxray /nxray
# Docker lets unprivileged processes bind low ports inside the container
# (net.ipv4.ip_unprivileged_port_start=0), so nxray runs as nobody.
USER 65534:65534
ENV NXRAY_LISTEN=0.0.0.0:53
EXPOSE 53/udp 53/tcp 8053
# The history database (the query log and verdicts, README.md "History"):
# on the volume, so that it outlives the container. NXRAY_HISTORY_PATH=""
# keeps none.
ENV NXRAY_HISTORY_PATH=/var/lib/nxray/history.db
VOLUME /var/lib/nxray
# GET /healthz on the http address (NXRAY_HTTP, 0.0.0.0 meaning loopback);
# it waits 2 s at most. Configure the container with NXRAY_* variables, which
# the check sees, rather than flags to serve, which it does not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/nxray", "health"]
ENTRYPOINT ["/nxray"]
CMD ["serve"]
