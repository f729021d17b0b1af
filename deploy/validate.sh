#!/usr/bin/env bash
# Validates the deployable artefacts: Dockerfile (hadolint), deploy/compose.yaml
# (docker compose config and the compose-spec schema), the Kubernetes manifests (schemas of
# Kubernetes 1.30 and 1.37, strict, as written and as kustomize renders them, plus the
# deployment rules), the Prometheus alert rules (promtool check and unit tests) and the
# Grafana dashboard (structure and PromQL). Installs what is missing; fails, never skips.
#
#   deploy/validate.sh        # from anywhere; CI runs it from .ci/run
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n--> %s\n' "$*"; }
die() { printf 'deploy/validate.sh: %s\n' "$*" >&2; exit 1; }

apt_install() {
  log "installing $* (Debian packages)"
  if [ "$(id -u)" != 0 ]; then die "need root to apt-get install $*; install them and rerun"; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# promtool ships in Debian's prometheus package; compose is the docker CLI plugin when there is
# one, else docker-compose (Debian's 1.29). Missing ones are installed in one apt run.
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
command -v promtool >/dev/null || die "promtool is missing after installing Debian's prometheus package"
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  die "no docker compose plugin, and no docker-compose after installing Debian's package"
fi

command -v kubectl >/dev/null || die "kubectl (for \`kubectl kustomize\`) is missing; the machine image ships it as the Debian package kubectl"

# Python validators, pinned, in a virtualenv kept under target/ (gitignored) between runs.
venv=target/deploy-tools/venv
stamp="$venv/.requirements"
if ! cmp -s deploy/tools-requirements.txt "$stamp" 2>/dev/null; then
  log "installing the Python validators into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r deploy/tools-requirements.txt
  cp deploy/tools-requirements.txt "$stamp"
fi

log "Dockerfile: hadolint"
"$venv/bin/hadolint" --no-color Dockerfile

log "compose: ${compose[*]} config, and the compose-spec schema"
"${compose[@]}" -f deploy/compose.yaml config -q
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml

log "Kubernetes: strict schemas of 1.30 (oldest supported) and 1.37, as written and as rendered"
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
kubectl kustomize deploy/k8s/app > "$rendered/app.yaml"
kubectl kustomize deploy/k8s/migrate > "$rendered/migrate.yaml"
mapfile -t manifests < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
for version in 1.30.0 1.37.0; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}" "$rendered/app.yaml" "$rendered/migrate.yaml"
done
"$venv/bin/python" deploy/check_manifests.py "$rendered/app.yaml" "$rendered/migrate.yaml"

log "Prometheus: alert rules and their unit tests ($(promtool --version 2>&1 | head -n 1))"
promtool check rules deploy/prometheus/alerts.yaml
promtool test rules deploy/prometheus/alerts.test.yaml

log "Grafana dashboard: structure and PromQL"
python3 deploy/check_dashboard.py deploy/grafana/*.json

log "deploy artefacts: all valid"
