#!/bin/sh
# Random secrets for infra/docker-compose.yml, in infra/secrets/ (git-ignored). Existing files are kept,
# so running it again never changes a secret under a running stack (a new VIGIL_ACK_SECRET would void
# every answer link already sent; a new VIGIL_HL7_SECRET would change every visit key).
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
chmod 700 secrets

rand() { python3 -c "import secrets; print(secrets.token_urlsafe($1), end='')"; }
put() {  # put NAME VALUE: write once, readable by the containers' user (the folder stays private)
  if [ ! -s "secrets/$1" ]; then printf '%s' "$2" > "secrets/$1"; echo "made secrets/$1"; fi
  chmod 644 "secrets/$1"
}

put ack_secret "$(rand 32)"
put hl7_secret "$(rand 32)"
put ingest_tokens "$(rand 32)"
put postgres_password "$(rand 24)"
put grafana_admin_password "$(rand 18)"
put db_url "postgresql+psycopg://vigil:$(cat secrets/postgres_password)@postgres:5432/vigil"
if [ ! -s secrets/contacts.yaml ]; then
  cp contacts.example.yaml secrets/contacts.yaml
  echo "made secrets/contacts.yaml from contacts.example.yaml: put the teams' real phones in it"
fi
chmod 644 secrets/contacts.yaml
