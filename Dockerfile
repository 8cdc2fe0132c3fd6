# One image for every role: `serve` (API replicas), `worker`, `db upgrade`, `keys`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY src ./src
RUN pip install --no-cache-dir -c requirements.lock . && useradd --create-home hubspot
USER hubspot
ENV DATA_DIR=/home/hubspot/data LOG_FORMAT=json
EXPOSE 8000
CMD ["hubspot-deals", "serve", "--host", "0.0.0.0", "--port", "8000"]
