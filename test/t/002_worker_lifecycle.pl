# The worker's life: it comes back after kill -9 and SIGTERM without taking
# the postmaster down, and it keeps sampling (and starts the heartbeat) when
# its standby is promoted with pg_promote().
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $primary = new_primary('primary');
my $standby = new_standby($primary, 'standby');
ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 30),
	'standby ok');

# Kill the worker with a signal; it must come back with a new PID under the
# same postmaster, and the node must serve queries and report ok again.
sub kill_worker_and_wait
{
	my ($node, $signal, $label) = @_;
	my $postmaster = postmaster_pid($node);
	my $old = worker_pid($node);
	ok($old > 0, "$label: worker running (pid $old)");
	is(kill($signal, $old), 1, "$label: sent SIG$signal to the worker");

	my $back = wait_until($node,
		"SELECT worker_pid IS NOT NULL AND worker_pid <> $old FROM dr_status()",
		't', 60);
	ok(defined $back, sprintf('%s: worker restarted (%.1f s)', $label, $back // -1));
	is(postmaster_pid($node), $postmaster, "$label: same postmaster");
	ok(kill(0, $postmaster), "$label: postmaster alive");
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'"),
		1, "$label: exactly one worker");
}

kill_worker_and_wait($standby, 'KILL', 'standby kill -9');
ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 60),
	'standby ok again after its worker crashed');

kill_worker_and_wait($primary, 'KILL', 'primary kill -9');
ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 60),
	"standby ok again after the primary's worker crashed (heartbeat resumed)");

# SIGTERM is a clean exit: the postmaster restarts the worker alone, without
# a crash cycle, so an open session survives it.
my $session_pid = $primary->safe_psql('postgres', 'SELECT pg_backend_pid()');
my $log_offset = -s $primary->logfile;
kill_worker_and_wait($primary, 'TERM', 'primary SIGTERM');
ok(!$primary->log_contains('terminating any other active server processes', $log_offset),
	'SIGTERM did not cause a crash-restart cycle');

###############################################################################
# Promotion: the standby's worker keeps running and sampling, role flips, and
# the new primary starts writing heartbeats (its WAL moves while idle).
###############################################################################
my $worker_before = worker_pid($standby);
my $tli_before = status_of($standby)->{timeline};
$primary->stop('fast');
is($standby->safe_psql('postgres', 'SELECT pg_promote()'), 't', 'pg_promote() succeeded');
ok(defined wait_until($standby, "SELECT role FROM dr_status()", 'primary', 30),
	'dr_status role flips to primary');
my $after = status_of($standby);
is($after->{worker_pid}, $worker_before, 'same worker process after promotion');
cmp_ok($after->{timeline}, '>', $tli_before, "timeline moved on ($tli_before -> $after->{timeline})");
is($after->{rpo_state}, 'unknown', 'new primary without standby: unknown');

ok(defined wait_until($standby,
	"SELECT count(*) >= 3 FROM dr_samples(3) WHERE role = 'primary'", 't', 30),
	'worker keeps sampling, as primary now');
my $lsn1 = $standby->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
ok(defined wait_until($standby,
	"SELECT pg_current_wal_flush_lsn() > '$lsn1'::pg_lsn", 't', 10),
	'idle new primary: heartbeat moves the WAL');
ok(defined wait_until($standby,
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr' AND pid = $worker_before",
	'1', 5), 'the worker is still the same process');

# The heartbeat does not commit: the naive replay timestamp tools use stays
# untouched, and no xid was consumed by it.
my $xid1 = $standby->safe_psql('postgres', 'SELECT txid_current_if_assigned() IS NULL, pg_current_xact_id()');
my $lsn2 = $standby->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
ok(defined wait_until($standby,
	"SELECT pg_current_wal_flush_lsn() > '$lsn2'::pg_lsn", 't', 10), 'WAL moved again');
my $xid2 = $standby->safe_psql('postgres', 'SELECT txid_current_if_assigned() IS NULL, pg_current_xact_id()');
my (undef, $x1) = split /\|/, $xid1;
my (undef, $x2) = split /\|/, $xid2;
is($x2, $x1 + 1, 'heartbeats consumed no transaction ids');

$standby->stop;
done_testing();
