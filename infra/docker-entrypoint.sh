#!/bin/sh
# Reads secrets from files: for each NAME below, when NAME_FILE is set (docker-compose secrets, mounted
# at /run/secrets/...), NAME becomes that file's content (without a trailing newline). Then runs the
# command. Kubernetes passes these as environment variables from Secrets and needs none of this.
set -eu
for name in VIGIL_ACK_SECRET VIGIL_HL7_SECRET VIGIL_DB_URL VIGIL_INGEST_TOKENS; do
  file_var="${name}_FILE"
  eval "file=\${$file_var:-}"
  if [ -n "$file" ]; then
    if [ ! -r "$file" ]; then
      echo "vigil-entrypoint: $file_var=$file is not a readable file" >&2
      exit 2
    fi
    value="$(cat "$file")"
    export "$name=$value"
    unset "$file_var"
  fi
done
exec "$@"
