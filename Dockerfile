# sessiongated in an image with nothing else in it. No registry is needed: the binaries are
# built static on the host first, with the empty bin/data (see "Running a cluster with docker
# compose" in the README):
#
#   make image
FROM scratch
COPY bin/sessiongated /sessiongated
# No shell or redis-cli in a scratch image: a static PING client is the health check.
COPY bin/healthcheck /healthcheck
# An empty /data the node's user owns: a volume mounted there starts with this owner, so
# --data-dir /data works without running as root. Nothing uses it unless asked to.
COPY --chown=65534:65534 bin/data /data
# Listen on every interface of the container; publish the port to choose who may connect.
ENV SESSIONGATE_ADDR=0.0.0.0:6380
EXPOSE 6380 7946/tcp 7946/udp 7947
USER 65534:65534
HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 CMD ["/healthcheck", "127.0.0.1:6380"]
ENTRYPOINT ["/sessiongated"]
