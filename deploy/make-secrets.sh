#!/usr/bin/env bash
# Makes the files deploy/compose.yaml mounts as secrets, once: a master key, a database
# password, and the pgpass file that gives the broker that password. Existing files are kept
# (a new master key would make every stored secret unreadable).
#
#   deploy/make-secrets.sh            # as root, or with sudo available for the chown
#
# Each file is readable only by the user that reads it in its container: 65532 (the broker
# image's nonroot user) for master.keys and pgpass, 999 (the postgres image's postgres user)
# for db_password.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
umask 077
mkdir -p "$dir"

if [ ! -s "$dir/master.keys" ]; then
  # The format of `tokenbroker gen-master-key`: ID:BASE64(32 random bytes).
  printf 'k%s:%s\n' "$(date -u +%Y%m%d%H%M%S)" "$(openssl rand -base64 32)" > "$dir/master.keys"
  echo "made $dir/master.keys: back it up apart from the database; without it nothing stored can be read"
fi
if [ ! -s "$dir/db_password" ]; then
  openssl rand -hex 24 > "$dir/db_password"
  printf 'postgres:5432:tokenbroker:tokenbroker:%s\n' "$(cat "$dir/db_password")" > "$dir/pgpass"
  echo "made $dir/db_password and $dir/pgpass"
fi

own() { # uid file
  if [ "$(id -u)" = 0 ]; then chown "$1:$1" "$2"; else sudo -n chown "$1:$1" "$2"; fi
}
chmod 0400 "$dir/master.keys" "$dir/pgpass" "$dir/db_password"
if ! { own 65532 "$dir/master.keys" && own 65532 "$dir/pgpass" && own 999 "$dir/db_password"; }; then
  echo "could not change the owners; run as root:" >&2
  echo "  chown 65532:65532 $dir/master.keys $dir/pgpass && chown 999:999 $dir/db_password" >&2
  exit 1
fi
