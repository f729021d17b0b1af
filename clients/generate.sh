#!/usr/bin/env bash
# Generates the Python and TypeScript clients from the committed openapi/openapi.json into
# gitignored directories (clients/python/generated, clients/typescript/generated), after
# checking the document with openapi-spec-validator. Nothing generated is edited or committed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_python_tools
ensure_node_tools

DOC=$ROOT/openapi/openapi.json
log "openapi-spec-validator openapi/openapi.json"
"$VENV/bin/openapi-spec-validator" "$DOC"

log "openapi-python-client -> clients/python/generated/tokenbroker_client"
rm -rf "$CLIENTS/python/generated"
mkdir -p "$CLIENTS/python/generated"
# --fail-on-warning: a document the generator has to skip parts of is a failure, not a client.
"$VENV/bin/openapi-python-client" generate --path "$DOC" --meta none --fail-on-warning \
  --config "$CLIENTS/python/generator.yaml" \
  --output-path "$CLIENTS/python/generated/tokenbroker_client"

log "openapi-typescript -> clients/typescript/generated/schema.d.ts"
rm -rf "$CLIENTS/typescript/generated"
(cd "$CLIENTS/typescript" && npx --no-install openapi-typescript "$DOC" -o generated/schema.d.ts)
