#!/usr/bin/env bash
# A self-signed certificate for trying deploy/compose.yaml (and for scripts/check-deploy.sh's
# nginx check): CN and subjectAltName localhost and 127.0.0.1, valid for 30 days.
#
#   deploy/make-cert.sh [DIR]      # writes DIR/cert.pem and DIR/key.pem (default deploy/certs)
#
# Not for production: KooGallery calls only a domain name with a certificate from a trusted CA
# (docs/deployment.md).
set -euo pipefail

dir=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/certs"}
mkdir -p "$dir"
chmod 0700 "$dir"

# The key is created 0600 from the start, not tightened afterwards.
umask 077
# openssl's progress dots go to standard error; shown only when it fails.
if ! log=$(openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" \
  -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>&1); then
  echo "$log" >&2
  exit 1
fi
chmod 0600 "$dir/key.pem"
chmod 0644 "$dir/cert.pem"
echo "wrote $dir/cert.pem and $dir/key.pem"
