# Patroni integration on a real Patroni 3.0 + etcd 3.4 cluster on 127.0.0.1:
# callbacks record every transition, pre_promote gates promotion, failover
# and switchover land in dr_events, a lagging replica is refused until it
# catches up, and a database-failover drill produces a judged report.
# Every process is started by PatroniCluster and killed by PID at the end.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use PatroniCluster;

my $dir = PostgreSQL::Test::Utils::tempdir('patroni');
my $c = PatroniCluster->new(
	dir => $dir,
	scripts => "$ENV{TESTDIR}/patroni",
	params => {
		'tensafe_dr.rpo_max' => '6s',
		'tensafe_dr.rpo_target' => '3s',
		'tensafe_dr.promote_max_lag' => '4s',
	});

$c->start_etcd;
$c->add_node('node1');
$c->wait_for(sub { $c->is_leader('node1') }, 60, 'node1 leader');
$c->sql('node1', 'CREATE EXTENSION tensafe_dr');
$c->sql('node1', 'CREATE TABLE load (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
$c->add_node('node2');
$c->wait_for(sub { $c->is_replica('node2') }, 60, 'node2 replica');
$c->wait_for(sub { $c->sql('node2', 'SELECT rpo_state FROM dr_status()') eq 'ok' }, 30, 'node2 ok');
pass('two-node Patroni cluster up, replica ok');

sub events
{
	my ($node, $where) = @_;
	return $c->sql($node, "SELECT count(*) FROM dr_events WHERE $where");
}

###############################################################################
# on_start of the replica: recorded there, in its journal (it cannot write).
###############################################################################
$c->wait_for(sub { events('node2', "event_type = 'patroni.on_start' AND details->>'role' = 'replica' AND pending") >= 1 },
	30, 'replica on_start journalled');
pass('on_start replica journalled on node2 (pending)');

###############################################################################
# kill -9 of the leader (Patroni and postmaster): node2 promoted; its
# dr_events hold the pre_promote verdict, the role change and the promotion.
###############################################################################
$c->kill9_node('node1');
my $t = $c->wait_for(sub { $c->is_leader('node2') }, 90, 'node2 promoted');
pass(sprintf('node2 promoted %.1f s after kill -9 of the leader', $t));
$c->wait_for(sub { events('node2', "event_type = 'PROMOTION_DETECTED' AND NOT pending") == 1 }, 30,
	'PROMOTION_DETECTED flushed');
is(events('node2', "event_type = 'PROMOTE_CHECK' AND (details->>'promotable')::boolean AND NOT pending"), 1,
	"pre_promote's verdict (promotable) is in node2's dr_events");
$c->wait_for(sub { events('node2', "event_type = 'patroni.on_role_change' AND details->>'role' = 'primary' AND details->>'patroni_role' IN ('master', 'primary')") >= 1 },
	30, 'on_role_change recorded');
pass('on_role_change master -> recorded as role primary');
is($c->sql('node2', q{SELECT count(*) FROM dr_events WHERE event_type = 'PROMOTION_DETECTED'
	AND (details->>'timeline_after')::int > (details->>'timeline_before')::int
	AND (details->>'possible_loss_s')::numeric < 4}), 1,
	'promotion recorded with timelines and the possible loss at promotion');
is(events('node2', "event_type = 'patroni.on_start' AND details->>'role' = 'replica'"), 1,
	'the on_start journalled as replica was flushed once after promotion');

###############################################################################
# The old leader rejoins as a replica (pg_rewind); that is recorded.
###############################################################################
$c->start_node('node1');
$c->wait_for(sub { $c->is_replica('node1') }, 90, 'node1 rejoined as replica');
$c->wait_for(sub { events('node1', "event_type = 'patroni.on_start' AND details->>'role' = 'replica'") >= 1 },
	30, 'node1 on_start replica recorded');
pass('old leader rejoined as replica and recorded it (journal on node1)');

###############################################################################
# patronictl switchover back to node1: recorded on both nodes.
###############################################################################
$c->wait_for(sub { $c->sql('node1', 'SELECT rpo_state FROM dr_status()') eq 'ok' }, 30, 'node1 ok');
$c->wait_for(sub { $c->is_switchover_candidate('node1') }, 60, "node1 streaming with a known lag in Patroni's member list");
my $out = $c->patronictl('node1', 'switchover', '--leader', 'node2', '--candidate', 'node1', '--force');
$c->wait_for(sub { $c->is_leader('node1') && $c->is_replica('node2') }, 90, 'switchover done');
pass('switchover to node1 done');
$c->wait_for(sub { events('node1', "event_type = 'patroni.on_role_change' AND details->>'role' = 'primary' AND NOT pending") >= 1 },
	30, 'switchover recorded on node1');
$c->wait_for(sub { events('node2', "event_type = 'patroni.on_role_change' AND details->>'role' = 'replica'") >= 1 },
	30, 'switchover recorded on node2');
pass('switchover recorded on both nodes (new primary in its table, demoted one in its journal)');

###############################################################################
# A lagging replica (replay stalled past the 4 s gate) is refused by
# pre_promote; once it catches up, promotion proceeds.  Replay is stalled by
# stopping the startup process (SIGSTOP), as a replay stuck on slow storage
# would be: pg_wal_replay_pause() cannot be used under Patroni, which resumes
# paused replay on PostgreSQL 14+ by itself.
###############################################################################
$c->wait_for(sub { $c->sql('node2', 'SELECT rpo_state FROM dr_status()') eq 'ok' }, 30, 'node2 ok');
my $startup = $c->sql('node2', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'");
ok($startup > 0, "node2 startup process $startup");
kill 'STOP', $startup;
$c->wait_for(sub {
	$c->sql('node1', 'INSERT INTO load DEFAULT VALUES');
	$c->sql('node2', "SELECT replay_lag > '5 s' FROM dr_status()") eq 't'
}, 60, 'node2 replay lag past the gate');
my $checks_before = events('node2', "event_type = 'PROMOTE_CHECK' AND NOT (details->>'promotable')::boolean");
$c->kill9_node('node1');
$c->wait_for(sub { events('node2', "event_type = 'PROMOTE_CHECK' AND NOT (details->>'promotable')::boolean") > $checks_before },
	90, 'pre_promote refused');
is($c->sql('node2', 'SELECT pg_is_in_recovery()'), 't', 'lagging replica not promoted while refused');
my $plog = do { local $/; open my $fh, '<', "$dir/node2/patroni.log" or die $!; <$fh> };
like($plog, qr/pre_promote script .* exited with 1/, "Patroni saw the gate's refusal (exit 1)");
like($c->sql('node2', q{SELECT details->>'reason' FROM dr_events WHERE event_type = 'PROMOTE_CHECK'
	AND NOT (details->>'promotable')::boolean ORDER BY occurred_at DESC LIMIT 1}),
	qr/replay_lag [\d.]+ s exceeds the gate 4\.0 s/, 'refused for its replay lag');
kill 'CONT', $startup;
$t = $c->wait_for(sub { $c->is_leader('node2') }, 120, 'node2 promoted after catching up');
pass(sprintf('promotion proceeded %.1f s after the replica caught up', $t));
$c->wait_for(sub { events('node2', "event_type = 'PROMOTE_CHECK' AND (details->>'promotable')::boolean AND occurred_at > now() - interval '5 min'") >= 1 },
	30, 'an accepting verdict recorded');
pass('the accepting verdict is recorded too');

###############################################################################
# A database-failover drill, end to end, with a judged report.
###############################################################################
$c->start_node('node1');
$c->wait_for(sub { $c->is_replica('node1') }, 90, 'node1 replica again');
$c->wait_for(sub { $c->sql('node1', 'SELECT rpo_state FROM dr_status()') eq 'ok' }, 30, 'node1 ok');
my ($drill_out, $drill_err);
my $ok = IPC::Run::run([ "$ENV{TESTDIR}/patroni/tensafe_dr_drill",
		'--patroni-config', "$dir/node2/patroni.yml", '--user', 'postgres',
		'--endpoints-ok', 'yes', '--error-rate', '0.2', '--corruption-found', 'no' ],
	'>', \$drill_out, '2>', \$drill_err, IPC::Run::timeout(300));
diag($drill_err) unless $ok;
ok($ok, 'drill script ran to the end');
note($drill_out);
like($drill_out, qr/# DR drill \d+: database_failover/, 'drill report printed');
like($drill_out, qr/- \[x\] failover completed within RTO: /, 'failover time judged against RTO: passed');
like($drill_out, qr/- \[x\] data loss within RPO: [\d.]+ s at promotion/, 'data loss judged against RPO from measured figures');
like($drill_out, qr/- \[x\] error rate < 1% after stabilization: 0\.2%/, 'operator-supplied error rate judged');
like($drill_out, qr/- \[[x ]\] audit logs continuous: \d+ missing journal entries/, 'event log continuity measured');
like($drill_out, qr/- \[[x ]\] latest backup verification ok: /, 'backup criterion present');
like($drill_out, qr/PROMOTION_DETECTED.*DR_COMPLETE/s, 'report lists the events of the drill');
is($c->sql('node2', "SELECT count(*) FROM dr_drill_schedule WHERE kind = 'database_failover' AND NOT overdue"), 1,
	'schedule: database_failover no longer overdue');

$c->stop_all;
done_testing();
