# syntax=docker/dockerfile:1
# The back-spasm bot in a small image (docs/DEPLOY.md):
#
#   docker build -t backspasm-bot .
#   docker run -d --name backspasm-bot -e TELEGRAM_BOT_TOKEN=... -v backspasm-data:/data backspasm-bot
#
# Long polling by default; a webhook when WEBHOOK_URL is set (port 8443, path /telegram).
# State: SQLite under /data (a volume), or PostgreSQL when DATABASE_URL is set.
# The build context is an allow-list (.dockerignore): no .env, data/, tests or .git get in.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: wheels only; nothing of this stage ends up in the image but the wheels ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The dependencies first, from pyproject.toml alone (a stub package stands in for bot/), so a
# change to the code or the content does not download them again.
COPY pyproject.toml README.md ./
RUN mkdir bot && touch bot/__init__.py \
 && pip wheel --wheel-dir /deps . \
 && rm -rf /deps/backspasm_bot-*.whl bot build *.egg-info
COPY bot/ bot/
RUN pip wheel --no-deps --wheel-dir /dist .

# ---- the image -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    BOT_CONTENT_DIR=/app \
    BOT_CACHE_DIR=/opt/backspasm-bot/cache \
    BOT_DATA_DIR=/data

RUN groupadd --system --gid 10001 bot \
 && useradd --system --uid 10001 --gid bot --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin bot

# The project and its runtime dependencies, nothing else (no test extras, no build tools).
RUN --mount=type=bind,from=build,source=/deps,target=/deps \
    --mount=type=bind,from=build,source=/dist,target=/dist \
    pip install --no-index --find-links=/deps /dist/*.whl

# The content the bot answers from (BOT_CONTENT_DIR), and the Procfile (Dokku reads it here).
WORKDIR /app
COPY faq.yaml language.yaml messages.yaml Procfile ./
COPY intents/ intents/
COPY flows/ flows/

# The data folder (owner-only, as the bot wants it) and the classifier's cache, both the user's.
RUN install -d -o bot -g bot -m 0700 /data \
 && install -d -o bot -g bot -m 0755 /opt/backspasm-bot "$BOT_CACHE_DIR"

USER bot
# Validate the content (a broken file fails the build) and train the classifier now, so that
# a container starts in about a second instead of training for ~15 s. Whatever these write
# besides the cache goes to a scratch folder, not into the data volume's initial contents.
RUN scratch=$(mktemp -d) \
 && BOT_DATA_DIR="$scratch" python -m bot check \
 && BOT_DATA_DIR="$scratch" python -m bot ask "is heat or ice better for a back spasm?" > /dev/null \
 && rm -rf "$scratch"

VOLUME ["/data"]
EXPOSE 8443
# Exit 0 when the database is reachable and the bot wrote a heartbeat recently.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "health"]
CMD ["python", "-m", "bot", "run"]
