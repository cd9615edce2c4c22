# syntax=docker/dockerfile:1
# Multi-stage: build a virtualenv with the project, copy only that into a slim runtime image.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY identity_service ./identity_service
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="identity_service" \
      org.opencontainers.image.description="National electronic identity provider (OpenID Connect)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IDENTITY_HOST=0.0.0.0 \
    IDENTITY_PORT=8000 \
    IDENTITY_DATA_DIR=/var/lib/identity \
    IDENTITY_KEYS_DIR=/var/lib/identity/keys
RUN groupadd --system --gid 10001 identity \
 && useradd --system --uid 10001 --gid identity --home-dir /var/lib/identity --shell /usr/sbin/nologin identity \
 && mkdir -p /var/lib/identity/keys && chown -R identity:identity /var/lib/identity && chmod 0700 /var/lib/identity/keys
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /var/lib/identity
VOLUME ["/var/lib/identity"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('IDENTITY_PORT', '8000')}/healthz\", timeout=2)"]
ENTRYPOINT ["identity-service"]
CMD ["serve"]
