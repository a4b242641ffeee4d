# start.sh — sourced by .ci/run and scripts/bench (bash): defines
# start_postgres, which runs cluster.sh in the background as an
# unprivileged user when we are root, waits until the server accepts
# connections, exports ANNALS_TEST_POSTGRES (the URL internal/pgtest and
# the benchmarks use), and stops the cluster when the calling shell exits.
#
#	. internal/pgtest/start.sh
#	start_postgres [mode]
#
# mode, when given, is passed to cluster.sh as its third argument. It
# finds the binaries on PATH or in /usr/lib/postgresql/*/bin, and installs
# Debian's postgresql package when there are none and we are root with
# apt-get. It prints the server's version and its durability settings.

find_postgres_bindir() {
	local d
	if command -v initdb >/dev/null && command -v postgres >/dev/null; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
			echo "$d"
			return
		fi
	done
}

start_postgres() {
	local mode=${1:-} root bindir pguser
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	bindir=$(find_postgres_bindir)
	if [ -z "$bindir" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "no PostgreSQL server binaries: installing Debian's postgresql package"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
		bindir=$(find_postgres_bindir)
	fi
	if [ -z "$bindir" ]; then
		echo "FAIL: no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin" >&2
		return 1
	fi
	PGTEST_DIR=$(mktemp -d /tmp/annals-pg.XXXXXX)
	local runas=()
	if [ "$(id -u)" = 0 ]; then
		pguser=postgres
		id -u "$pguser" >/dev/null 2>&1 || pguser=nobody
		chown "$pguser:" "$PGTEST_DIR"
		runas=(setpriv --reuid="$pguser" --regid="$(id -g "$pguser")" --init-groups --)
	fi
	(cd "$PGTEST_DIR" && exec "${runas[@]}" /bin/sh -s "$bindir" "$PGTEST_DIR" ${mode:+"$mode"} <"$root/internal/pgtest/cluster.sh") &
	PGTEST_PID=$!
	trap stop_postgres EXIT
	export ANNALS_TEST_POSTGRES="postgres://postgres@/postgres?host=$PGTEST_DIR"
	for _ in $(seq 600); do
		if "$bindir/pg_isready" -q -h "$PGTEST_DIR"; then break; fi
		if ! kill -0 "$PGTEST_PID" 2>/dev/null; then
			echo "FAIL: the PostgreSQL cluster did not start; its log:" >&2
			cat "$PGTEST_DIR/cluster.log" >&2 || true
			return 1
		fi
		sleep 0.1
	done
	if ! "$bindir/pg_isready" -q -h "$PGTEST_DIR"; then
		echo "FAIL: the PostgreSQL cluster did not accept connections within a minute; its log:" >&2
		cat "$PGTEST_DIR/cluster.log" >&2 || true
		return 1
	fi
	PGTEST_VERSION=$("$bindir/postgres" --version)
	PGTEST_SETTINGS=""
	if [ -x "$bindir/psql" ]; then
		PGTEST_SETTINGS=$("$bindir/psql" -X -At -h "$PGTEST_DIR" -U postgres -d postgres -c \
			"SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings
			 WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'shared_buffers')")
	fi
	echo "$PGTEST_VERSION from $bindir, socket in $PGTEST_DIR${PGTEST_SETTINGS:+, $PGTEST_SETTINGS}"
}

stop_postgres() {
	if [ -n "${PGTEST_PID:-}" ]; then
		kill -TERM "$PGTEST_PID" 2>/dev/null || true
		wait "$PGTEST_PID" 2>/dev/null || true
		PGTEST_PID=
	fi
}
