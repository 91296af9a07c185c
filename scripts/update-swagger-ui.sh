#!/usr/bin/env bash
# Vendors the Swagger UI assets served by server/swaggerui from the npm
# package swagger-ui-dist, pinned to an exact version.
#
# Usage: scripts/update-swagger-ui.sh VERSION    (e.g. 5.35.0)
#
# Only the files the page needs are copied into server/swaggerui/dist/
# (no source maps, no standalone preset, no es-bundle), plus the package's
# LICENSE/NOTICE, and the version is written to server/swaggerui/dist/VERSION.
# Running it twice with the same VERSION produces identical files.
set -euo pipefail

if [[ $# -ne 1 || ! "$1" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "usage: $0 VERSION   (exact version, e.g. 5.35.0)" >&2
	exit 2
fi
version="$1"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/server/swaggerui/dist"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tarball=("$tmp"/swagger-ui-dist-*.tgz)
if [[ ${#tarball[@]} -ne 1 || ! -f "${tarball[0]}" ]]; then
	echo "npm pack did not produce exactly one tarball" >&2
	exit 1
fi
tar -xzf "${tarball[0]}" -C "$tmp"
pkg="$tmp/package"

got="$(node -p 'require(process.argv[1]).version' "$pkg/package.json" 2>/dev/null ||
	sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pkg/package.json" | head -n1)"
if [[ "$got" != "$version" ]]; then
	echo "package version $got does not match requested $version" >&2
	exit 1
fi

required=(swagger-ui.css swagger-ui-bundle.js favicon-32x32.png favicon-16x16.png)
# swagger-ui-bundle.js starts with "For license information please see
# swagger-ui-bundle.js.LICENSE.txt": the notices of the third-party code
# bundled into it, which we redistribute, so ship that file too.
optional=(LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt)

rm -rf "$dest"
mkdir -p "$dest"
for f in "${required[@]}"; do
	if [[ ! -f "$pkg/$f" ]]; then
		echo "swagger-ui-dist@$version has no $f" >&2
		exit 1
	fi
	cp "$pkg/$f" "$dest/$f"
done
for f in "${optional[@]}"; do
	if [[ -f "$pkg/$f" ]]; then
		cp "$pkg/$f" "$dest/$f"
	fi
done
# Drop the trailing source-map reference: the map is not shipped, and the
# browser devtools would otherwise request it and log a 404.
sed -i -e '/^\/\/# sourceMappingURL=.*$/d' -e '/^\/\*# sourceMappingURL=.*\*\/$/d' \
	"$dest/swagger-ui-bundle.js" "$dest/swagger-ui.css"
chmod 0644 "$dest"/*
printf '%s\n' "$version" >"$dest/VERSION"

echo "swagger-ui-dist@$version -> ${dest#"$root"/}:"
(cd "$dest" && ls -l)
