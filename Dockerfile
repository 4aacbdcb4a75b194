# The admin's browser library (livekit-client, for test calls) from npm, pinned by package-lock.json;
# only its built files go into the image, served with the static files (no CDN).
FROM node:20-slim AS browser-assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 && rm -rf /var/lib/apt/lists/*
# The runtime only: the test and development tools (pytest, Playwright, ruff...) stay out.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=browser-assets /assets/node_modules/livekit-client/dist /app/node_modules/livekit-client/dist
RUN DEBUG=1 python manage.py collectstatic --noinput
# The app never needs root: it runs as `soniq`, owning only the voice worker's spool and the call
# recordings kept on disk (volumes).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin soniq \
    && mkdir -p /var/lib/soniq/spool /var/lib/soniq/recordings \
    && chown soniq:soniq /var/lib/soniq/spool /var/lib/soniq/recordings
USER soniq
EXPOSE 8000
CMD ["gunicorn", "soniq_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8", "--worker-class", "gthread"]
