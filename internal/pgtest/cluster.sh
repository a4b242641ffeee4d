# cluster.sh BINDIR DIR [durable] — run a throwaway PostgreSQL cluster until
# signalled.
#
# Creates a cluster in DIR/data with the binaries in BINDIR and runs it in
# the foreground, listening only on the Unix socket DIR/.s.PGSQL.5432 (no
# TCP port, so it never collides with another server). Connect with
# postgres://postgres@/postgres?host=DIR. On SIGTERM, SIGINT or SIGHUP it
# stops the server and removes DIR. If the server cannot start it exits
# non-zero and leaves DIR, and the log in DIR/cluster.log, to the caller.
#
# Run it as an unprivileged user that owns DIR: initdb refuses root. By
# default the settings trade durability for speed (fsync and
# full_page_writes off), which suits tests. With "durable" as the third
# argument the server keeps PostgreSQL's defaults for durability (fsync,
# full_page_writes and synchronous_commit on, wal_level replica), so that
# benchmarks measure what a production server does.
set -u
bindir=$1
dir=$2
mode=${3:-fast}
pid=

stop() {
	trap '' INT TERM HUP
	if [ -n "$pid" ]; then
		kill -INT "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
	exit 0
}
trap stop INT TERM HUP

cd "$dir" || exit 1
"$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >>"$dir/cluster.log" 2>&1 || exit 1

case $mode in
fast)
	set -- -c fsync=off -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0 \
		-c max_wal_size=1GB -c checkpoint_timeout=30min
	;;
durable) set -- ;;
*)
	echo "cluster.sh: unknown mode $mode (want fast or durable)" >>"$dir/cluster.log"
	exit 2
	;;
esac
"$bindir/postgres" -D "$dir/data" -k "$dir" -c listen_addresses= "$@" \
	-c max_connections=300 -c log_min_messages=warning -c logging_collector=off >>"$dir/cluster.log" 2>&1 &
pid=$!
wait "$pid"
status=$?
pid=
# The server stopped on its own: leave the log to the caller.
rm -rf "$dir/data"
exit "$status"
