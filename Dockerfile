# The bot as a small, non-root image: `docker compose up -d` (see compose.yaml and
# docs/admin-guide.md). Stage one builds the wheel and installs it into a virtual
# environment; stage two copies only that environment, so no source, tests or benchmark
# are in the image.
#
# The base is pinned by tag; to pin it harder, replace the tag with its digest
# (python:3.11.11-slim-bookworm@sha256:...) and update it with each release.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE NOTICE ./
COPY bot ./bot
COPY adapters ./adapters
COPY conversation ./conversation
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/bot \
    && /opt/bot/bin/pip install /wheels/*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="staff-harassment-bot" \
      org.opencontainers.image.licenses="MIT AND OGL-UK-3.0"
# BOT_DATA_DIR keeps the reference-number key when TOKEN_ENCRYPTION_KEY is not set
# (compose.yaml gives it a volume). PORT is what `serve` listens on.
ENV PATH=/opt/bot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    BOT_DATA_DIR=/data
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown bot:bot /data \
    && chmod 0700 /data
COPY --from=build /opt/bot /opt/bot
WORKDIR /data
USER 10001:10001
EXPOSE 3000
# Liveness only (the standard library, no curl in the image); /readyz says whether Redis
# can take a turn.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
CMD ["python", "-m", "bot", "serve"]
