# syntax=docker/dockerfile:1
# The shipper image: the wheel is built in one stage and installed into a clean slim one.
#   docker build -t shipper:0.1.0 .
# The DaemonSet (deploy/daemonset.yaml) runs it as `shipper run`.

# One pinned base for both stages (tag to read, digest to reproduce), so the wheels are built
# by the very Python that runs them; the 3.11 line is the one CI tests on.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1
# checkov:skip=CKV_DOCKER_7: FROM uses PYTHON_IMAGE, pinned above; checkov does not expand ARGs

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shipper/ shipper/
# shipper's wheel and its dependencies' wheels: the final stage then installs offline.
# EXTRAS adds optional dependencies: --build-arg EXTRAS='[aws]' for Amazon OpenSearch (SigV4).
ARG EXTRAS=""
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".${EXTRAS}"

# journalctl, the journal reader (README, "Node logs"), with just the libraries the slim base
# lacks (journalctl, libsystemd-shared, libip4tc, libkmod: about 3.5 MB, where the systemd
# package and its dependencies would add about 17 MB). Found with ldd and kept only when
# their package is not in the base, so the final stage gets no second copy of a library.
FROM ${PYTHON_IMAGE} AS journal
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN dpkg-query -W -f='${Package}\n' >/tmp/base-packages \
    && apt-get update \
    && apt-get install -y --no-install-recommends systemd \
    && rm -rf /var/lib/apt/lists/* \
    && { echo /usr/bin/journalctl; ldd /usr/bin/journalctl | awk '$2 == "=>" && $3 ~ /^\// {print $3}'; } \
    | while read -r file; do \
        package="$(dpkg -S "*/$(basename "$file")" | head -n 1 | cut -d: -f1)"; \
        if ! grep -qx "$package" /tmp/base-packages; then \
          directory="/out$(readlink -f "$(dirname "$file")")"; \
          mkdir -p "$directory" && cp -L "$file" "$directory/"; \
        fi; \
      done \
    && /out/usr/bin/journalctl --version >/dev/null

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG EXTRAS=""
LABEL org.opencontainers.image.title="shipper" \
      org.opencontainers.image.description="Kubernetes node log agent: container logs to Elasticsearch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.13-slim-bookworm"
# The wheels are mounted, not copied: no layer keeps them, and pip keeps no cache.
# /var/lib/shipper (SHIPPER_STATE_DIR) is owned by the image's user for `docker run`; the
# DaemonSet mounts the node's directory over it.
COPY --from=journal /out/ /
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "$(echo /wheels/shipper-*.whl)${EXTRAS}" \
    && mkdir -p /var/lib/shipper \
    && chown 65532:65532 /var/lib/shipper \
    && journalctl --version >/dev/null
# Unprivileged by default (e.g. `docker run` on sample logs). On a node the DaemonSet runs it
# as uid 0 without any capability, to read the root-owned logs (see its securityContext).
USER 65532:65532
EXPOSE 24231
# Kubernetes ignores HEALTHCHECK: the DaemonSet's probes call /healthz and /readyz instead.
# checkov:skip=CKV_DOCKER_2: Kubernetes ignores HEALTHCHECK; the DaemonSet probes /healthz
ENTRYPOINT ["shipper"]
CMD ["run"]
