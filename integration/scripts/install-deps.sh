#!/usr/bin/env bash
# install-deps.sh installs what sessionfs's tests need and is quick when
# everything is already there (make test and CI run it every time).
#
#  1. System packages (Debian bookworm): fuse3 python3-django vim emacs-nox attr;
#     the database servers the database-backend tests start privately
#     (postgresql-15, mariadb-server) and Django's drivers for them
#     (python3-psycopg2, python3-mysqldb); Redis, memcached and their Python
#     clients (redis-server, memcached, python3-redis, python3-django-redis,
#     python3-pymemcache) for the cache-backend tests.
#     As root they are installed with apt-get; otherwise the exact command is
#     printed and the script exits 1.
#  2. Django 4.2 (Debian trixie) and 5.2 (Debian sid), which bookworm does not
#     ship, for the interop tests. Their python3-django, python3-asgiref and
#     python3-sqlparse .debs are fetched with `apt-get download` through a
#     throw-away apt configuration (own sources list, lists and cache dirs; the
#     system's sources and state are never touched) and unpacked with
#     `dpkg-deb -x` into ${SESSIONFS_DJANGO_CACHE:-/var/cache/sessionfs/django}/<major.minor>/.
#     Tests run them as PYTHONPATH=<dir>/usr/lib/python3/dist-packages /usr/bin/python3.
#
# Signatures: the suites' Release files are verified by apt against
# /usr/share/keyrings/debian-archive-keyring.gpg; bookworm's keyring
# (2023.3+deb12u2) holds the trixie keys, which also sign sid today. Should sid
# one day be signed only by a key bookworm does not know, the script takes the
# debian-archive-keyring package from trixie (itself verified through trixie's
# signed Release and Packages hashes) and verifies sid with that keyring.
# Nothing is ever fetched unverified ([trusted=yes] is not used).
set -euo pipefail

readonly PYTHON=/usr/bin/python3
readonly CACHE="${SESSIONFS_DJANGO_CACHE:-/var/cache/sessionfs/django}"
readonly SYSTEM_PACKAGES=(fuse3 python3-django vim emacs-nox attr systemd man-db util-linux
	gcc libdeflate-dev
	postgresql-15 mariadb-server python3-psycopg2 python3-mysqldb
	redis-server memcached python3-redis python3-django-redis python3-pymemcache lz4 zstd)
readonly DJANGO_PACKAGES=(python3-django python3-asgiref python3-sqlparse)
readonly MIRROR=http://deb.debian.org/debian
readonly SECURITY_MIRROR=http://deb.debian.org/debian-security
readonly SYSTEM_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

installed() { # installed PKG: true when dpkg knows PKG as installed
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

install_system_packages() {
	local missing=() p
	for p in "${SYSTEM_PACKAGES[@]}"; do
		installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		return
	fi
	if ! is_root; then
		log "missing packages: ${missing[*]}; run as root:"
		printf '  apt-get update && apt-get install -y %s\n' "${missing[*]}" >&2
		exit 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Try without an update first: it is slow, and the lists are usually fresh enough.
	if ! apt-get install -y -q "${missing[@]}" </dev/null; then
		apt-get update -q </dev/null
		apt-get install -y -q "${missing[@]}" </dev/null
	fi
}

# django_version_in DIR: the Django version importable from DIR (empty on failure).
django_version_in() {
	PYTHONPATH="$1/usr/lib/python3/dist-packages" "$PYTHON" -c 'import django; print(django.get_version())' 2>/dev/null || true
}

# sessions_work_in DIR: Django from DIR can encode and decode a session (this
# imports asgiref and sqlparse too, so a Python incompatibility shows here).
sessions_work_in() {
	PYTHONPATH="$1/usr/lib/python3/dist-packages" "$PYTHON" -W ignore - <<'PY'
import django
from django.conf import settings
settings.configure(SECRET_KEY="install-deps-check", INSTALLED_APPS=["django.contrib.sessions"],
                   SESSION_ENGINE="django.contrib.sessions.backends.file")
django.setup()
from django.contrib.sessions.backends.file import SessionStore
s = SessionStore()
assert s.decode(s.encode({"ok": [1, "ü"]})) == {"ok": [1, "ü"]}
PY
}

# apt_opts WORKDIR KEYRING: options for a private apt configuration under WORKDIR.
apt_opts() {
	local w=$1
	printf '%s\n' \
		-o "Dir::Etc::SourceList=$w/sources.list" \
		-o "Dir::Etc::SourceParts=$w/sources.list.d" \
		-o "Dir::State::Lists=$w/lists" \
		-o "Dir::Cache=$w/cache" \
		-o "Dir::State::status=$w/status" \
		-o "Debug::NoLocking=1" \
		-o "APT::Update::Error-Mode=any" \
		-o "Acquire::Languages=none" \
		-o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false" \
		-o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false" \
		-o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false" \
		-o "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false" \
		-o "Acquire::IndexTargets::deb::CNF::DefaultEnabled=false"
}

# private_apt WORKDIR KEYRING SUITE...: a fresh apt configuration for SUITEs, updated.
private_apt() {
	local w=$1 keyring=$2 suite
	shift 2
	rm -rf "$w"
	mkdir -p "$w/sources.list.d" "$w/lists/partial" "$w/cache/archives/partial" "$w/debs"
	: >"$w/status"
	for suite in "$@"; do
		case $suite in
		*-security) echo "deb [signed-by=$keyring] $SECURITY_MIRROR $suite main" ;;
		*) echo "deb [signed-by=$keyring] $MIRROR $suite main" ;;
		esac
	done >"$w/sources.list"
	local opts
	mapfile -t opts < <(apt_opts "$w")
	apt-get "${opts[@]}" -q update </dev/null >"$w/update.log" 2>&1
}

# apt_download WORKDIR PKG...: .debs of the candidate versions into WORKDIR/debs.
apt_download() {
	local w=$1 opts
	shift
	mapfile -t opts < <(apt_opts "$w")
	(cd "$w/debs" && apt-get "${opts[@]}" -q download "$@" </dev/null >>"$w/download.log" 2>&1)
}

# newer_keyring WORKDIR: a keyring from trixie's debian-archive-keyring package,
# verified with the system keyring through trixie's signed Release file.
newer_keyring() {
	local w=$1
	private_apt "$w" "$SYSTEM_KEYRING" trixie || { cat "$w/update.log" >&2; return 1; }
	apt_download "$w" debian-archive-keyring || { cat "$w/download.log" >&2; return 1; }
	dpkg-deb -x "$w"/debs/debian-archive-keyring_*.deb "$w/root"
	echo "$w/root/usr/share/keyrings/debian-archive-keyring.gpg"
}

# ensure_django VERSION SUITE...: Django VERSION (major.minor) from SUITEs in $CACHE/VERSION.
ensure_django() {
	local version=$1
	shift
	local dest="$CACHE/$version" got
	got=$(django_version_in "$dest")
	if [[ $got == "$version".* ]] && [[ -f $dest/.verified ]]; then
		log "Django $got present in $dest"
		return
	fi
	mkdir -p "$CACHE" 2>/dev/null || true
	if [[ ! -w $CACHE ]]; then
		log "cannot write $CACHE to fetch Django $version; run this script as root:"
		printf '  sudo %q\n' "$(readlink -f "$0")" >&2
		log "or choose a writable cache: SESSIONFS_DJANGO_CACHE=\$HOME/.cache/sessionfs/django $0"
		exit 1
	fi
	local work="$TMP/$version"
	log "fetching Django $version from Debian ${*}"
	if ! private_apt "$work" "$SYSTEM_KEYRING" "$@"; then
		if grep -q -E 'NO_PUBKEY|EXPKEYSIG|not signed' "$work/update.log"; then
			log "the system keyring cannot verify ${*}; trying trixie's debian-archive-keyring"
			local keyring
			keyring=$(newer_keyring "$TMP/keyring") || die "could not get a newer archive keyring"
			private_apt "$work" "$keyring" "$@" || { cat "$work/update.log" >&2; die "apt-get update for ${*} failed"; }
		else
			cat "$work/update.log" >&2
			die "apt-get update for ${*} failed"
		fi
	fi
	apt_download "$work" "${DJANGO_PACKAGES[@]}" || { cat "$work/download.log" >&2; die "apt-get download failed"; }
	local staging="$CACHE/.$version.new" deb
	rm -rf "$staging"
	mkdir -p "$staging"
	for deb in "$work"/debs/*.deb; do
		dpkg-deb -x "$deb" "$staging"
		basename "$deb" >>"$staging/.debs"
	done
	# Byte-compile once here: every test run starts Django many times.
	"$PYTHON" -m compileall -q -j 0 "$staging/usr/lib/python3/dist-packages" >/dev/null 2>&1 || true
	got=$(django_version_in "$staging")
	[[ $got == "$version".* ]] || die "unpacked Django reports version '$got', want $version.x"
	sessions_work_in "$staging" || die "Django $got from ${*} cannot encode/decode a session with $PYTHON"
	touch "$staging/.verified"
	rm -rf "$dest"
	mv "$staging" "$dest"
	log "Django $got installed in $dest ($(tr '\n' ' ' <"$dest/.debs"))"
}

main() {
	install_system_packages
	local sys
	sys=$("$PYTHON" -c 'import django; print(django.get_version())')
	[[ $sys == 3.2.* ]] || die "$PYTHON has Django $sys, want 3.2.x (Debian bookworm's python3-django)"
	log "Django $sys present for $PYTHON"
	"$PYTHON" -c 'import psycopg2, MySQLdb, redis, django_redis, pymemcache' ||
		die "$PYTHON cannot import the database and cache drivers (python3-psycopg2 python3-mysqldb python3-redis python3-django-redis python3-pymemcache)"

	TMP=$(mktemp -d)
	trap 'rm -rf "$TMP"' EXIT
	ensure_django 4.2 trixie trixie-security
	ensure_django 5.2 sid
}

main "$@"
