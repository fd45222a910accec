# stylebot: Telegram bot + inference process in one container.
#   docker build -t stylebot .
#   docker run --env-file .env -v stylebot-data:/data stylebot
# Verified by building and running it with podman (bench/container_check.py, README "Deploy"):
# there the base is a Debian bookworm image made from Debian's packages (BASE, below) and torch
# the CPU wheel from a local folder (TORCH_SPEC, PIP_FIND_LINKS).
#
# BASE: any Debian-like image with python3 (>= 3.10) and its venv module.
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite+aiosqlite:////data/stylebot.db \
    PORT=8080 \
    PATH=/opt/stylebot/bin:$PATH

WORKDIR /app
# torch first, from TORCH_INDEX (CPU wheels keep the image small; the CUDA index for a GPU
# host) or as TORCH_SPEC says ("torch==2.13.0+cpu" with PIP_FIND_LINKS naming a folder of wheels)
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC=torch
ARG PIP_FIND_LINKS=
# a CA bundle for pip behind a TLS-inspecting proxy (mounted into the build), else certifi's
ARG PIP_CERT=
# the source (see .dockerignore); installed as a package: the trained weights, the migrations,
# the templates and catalogues travel inside it, nothing is read from /app at run time
COPY . .
RUN python3 -m venv /opt/stylebot \
    && pip install --extra-index-url "$TORCH_INDEX" "$TORCH_SPEC" \
    && pip install --extra-index-url "$TORCH_INDEX" . \
    && useradd --create-home --uid 10001 stylebot \
    && mkdir -p /data && chown stylebot:stylebot /data
# the ONNX Runtime graphs of the shipped nets and the presets' AdaIN statistics, exported once
# here (~30 s) rather than after each container start's first jobs
ENV STYLETRANSFER_ONNX_CACHE=/opt/stylebot/onnx-cache
RUN stylize prepare && chown -R stylebot:stylebot /opt/stylebot/onnx-cache

USER stylebot
WORKDIR /home/stylebot
VOLUME /data
EXPOSE 8080
# `stylebot check`: settings, weights (sha256), database at head, /data writable, the token (getMe)
# and the running bot's /healthz (inference process alive); exit 0 only when all are OK
HEALTHCHECK --interval=60s --timeout=20s --start-period=90s --retries=3 \
    CMD ["stylebot", "check", "--healthz"]
STOPSIGNAL SIGTERM
CMD ["stylebot"]
