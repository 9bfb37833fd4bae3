# Knowledge of the primary survives restarts and cascades (issue 14,
# "observed").  Every figure is what a failover at that moment would lose,
# on every node, across restarts:
#   1. a standby restarted (and crashed) during an outage still knows its
#      last contact, stays in breach, and the gate can bound the loss;
#   2. a contact dr_status() has shown is never forgotten (a slow sampler,
#      the primary dying soon after the standby started, then a restart);
#   3. a standby that has not reported a position (here pg_receivewal) is
#      'unknown' on its primary, its byte figure NULL, in dr_status() and
#      dr_replicas alike;
#   4. lag dating does not start over at a restart: WAL older than the new
#      ring is dated by the heartbeats in the WAL held (standby restarted)
#      and by dr_wal_positions (primary restarted);
#   5. cascade primary -> s1 -> s2: s2 judges its distance from the primary,
#      not from s1, including after s1 restarts.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use DrTest;

my $objectives = <<'CONF';
tensafe_dr.rpo_target = '3s'
tensafe_dr.rpo_max = '6s'
tensafe_dr.history_interval = '1s'
CONF

# A standby streaming from $upstream (a primary or a standby), without
# waiting for its replay to be reported (subtest 3 has it report nothing).
sub standby_of
{
	my ($upstream, $name, $extra) = @_;
	$upstream->backup("${name}_backup");
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($upstream, "${name}_backup", has_streaming => 1);
	$node->append_conf('postgresql.conf', $extra) if defined $extra;
	$node->start;
	return $node;
}

# A timestamp from dr_status() as an SQL literal; NULL when there is none
# (so that a failing check fails instead of killing the script).
sub ts
{
	my ($t) = @_;
	return (defined $t && $t ne '') ? "'$t'::timestamptz" : 'NULL::timestamptz';
}

sub value
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

###############################################################################
subtest '1. a standby restarted during an outage still knows the primary' => sub {
	my $primary = new_primary('p1', $objectives);
	$primary->safe_psql('postgres', 'CREATE TABLE load (id bigserial PRIMARY KEY)');
	my $standby = new_standby($primary, 's1');
	ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 30),
		'standby ok while streaming');
	# Writes for longer than the gate, so that the start of the WAL segment
	# the standby restarts streaming from is older than the gate allows:
	# what it holds is what it replayed and read, not that segment start.
	my $start = time;
	while (time - $start < 8)
	{
		$primary->safe_psql('postgres', 'INSERT INTO load DEFAULT VALUES');
		usleep(200_000);
	}
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('flush'));

	$primary->stop('immediate');
	ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'breach', 30),
		'primary gone: standby reaches breach');
	my $contact = status_of($standby)->{last_primary_contact};
	isnt($contact, '', "last contact known before the restart ($contact)");

	$standby->restart;
	my $s = status_of($standby);
	is($s->{last_primary_contact}, $contact, 'after a restart: the same last contact');
	is($s->{rpo_state}, 'breach', 'after a restart: still breach, not unknown');
	like($s->{state_reason}, qr/last contact with the primary/, "reason: $s->{state_reason}");
	my ($promotable, $reason, $gate_rpo_lag) = split /\|/, value($standby,
		"SELECT c.promotable, c.reason, c.rpo_lag > interval '6s' AND abs(extract(epoch FROM c.rpo_lag - s.rpo_lag)) < 1"
		  . " FROM dr_promote_check() c, dr_status() s");
	unlike($reason, qr/cannot be bounded/, "gate after the restart: $reason");
	is($promotable, 't', 'gate after the restart: promotable (it held everything at the last contact)');
	is(value($standby, "SELECT last_primary_contact = " . ts($contact) . " FROM dr_promote_check()"),
		't', 'the gate judges from the contact dr_status() shows');
	is($gate_rpo_lag, 't', 'the gate judges the rpo_lag dr_status() shows (past rpo_max)');

	kill9_and_restart($standby);
	$s = status_of($standby);
	is($s->{last_primary_contact}, $contact, 'after a crash: the same last contact');
	is($s->{rpo_state}, 'breach', 'after a crash: still breach');
	$standby->stop;
};

###############################################################################
subtest '2. a contact shown is never forgotten' => sub {
	my $primary = new_primary('p2', $objectives);
	# A sampler much slower than the heartbeat: a contact may be shown
	# before any sample holds it.
	my $standby = new_standby($primary, 's2', "tensafe_dr.sample_interval = '10s'\n");
	$standby->restart;
	my $contact;
	ok(defined wait_until($standby,
			"SELECT last_primary_contact IS NOT NULL FROM dr_status()", 't', 20,
			sub { }), 'a contact is shown soon after the start');
	$contact = status_of($standby)->{last_primary_contact};
	$primary->stop('immediate');

	my $forgotten = 0;
	my $breach = wait_until($standby, "SELECT rpo_state FROM dr_status()", 'breach', 30,
		sub {
			my $c = value($standby,
				"SELECT coalesce(last_primary_contact >= " . ts($contact) . ", false) FROM dr_status()");
			$forgotten++ if $c ne 't';
		});
	ok(defined $breach, 'the standby of the dead primary reaches breach');
	is($forgotten, 0, 'the contact shown was never forgotten or set back');
	my $final = status_of($standby)->{last_primary_contact};

	ok(defined wait_until($standby,
			"SELECT coalesce(last_primary_contact = " . ts($final) . ", false) FROM dr_samples(1)", 't', 25),
		'the next sample holds the contact dr_status() shows');

	$standby->restart;
	is(status_of($standby)->{last_primary_contact}, $final, 'the same contact after a restart');
	is(status_of($standby)->{rpo_state}, 'breach', 'still breach after a restart');
	$standby->stop;
};

###############################################################################
subtest '3. a standby that has not reported is unknown, its bytes NULL' => sub {
	my $primary = new_primary('p3');
	# pg_receivewal is a physical walsender client that reports no flush
	# (without a slot) and no replay position: NULL in pg_stat_replication,
	# as any standby shows before its first reply.
	my $waldir = PostgreSQL::Test::Utils::tempdir;
	my $receiver = IPC::Run::start(
		[ 'pg_receivewal', '--no-loop', '-D', $waldir, '-d', $primary->connstr('postgres') ],
		'>', \my $rw_out, '2>', \my $rw_err);
	ok(defined wait_until($primary,
			"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND flush_lsn IS NULL AND replay_lsn IS NULL",
			'1', 30), 'a walsender client streaming without having reported flush/replay');
	ok(defined wait_until($primary,
			"SELECT standbys FROM dr_status()", '1', 10),
		'the primary counts it');

	my $st = value($primary,
		"SELECT rpo_state, lag_bytes IS NULL, rpo_lag IS NULL, replay_lag IS NULL, standbys FROM dr_status()");
	is($st, 'unknown|t|t|t|1', 'primary dr_status(): unknown, lag_bytes/rpo_lag/replay_lag NULL');
	like(value($primary, 'SELECT state_reason FROM dr_status()'), qr/not reported/,
		'primary dr_status(): the reason says so');
	is(value($primary,
			"SELECT rpo_state, rpo_lag IS NULL, replay_lag IS NULL, replay_lag_bytes IS NULL FROM dr_replicas"),
		'unknown|t|t|t', 'dr_replicas: the same client unknown, figures NULL');
	is(value($primary,
			"SELECT rpo_state, lag_bytes IS NULL FROM dr_standby_lag('0/0', '0/0')"),
		'unknown|t', 'dr_standby_lag(0/0, 0/0): unknown, lag_bytes NULL');

	# A standby that reports is judged, and once the silent client is gone
	# the primary is ok with a byte figure.
	my $standby = new_standby($primary, 's3');
	$receiver->kill_kill;
	ok(defined wait_until($primary,
			"SELECT rpo_state = 'ok' AND lag_bytes IS NOT NULL AND standbys = 1 FROM dr_status()", 't', 30),
		'a reporting standby alone: ok, with a byte figure');
	$standby->stop;
	$primary->stop;
};

###############################################################################
subtest '4. lag dating does not start over at a restart' => sub {
	my $primary = new_primary('p4', $objectives);
	$primary->safe_psql('postgres', 'CREATE TABLE load (id bigserial PRIMARY KEY)');
	my $delayed = new_standby($primary, 's4d', "recovery_min_apply_delay = '8s'\n");
	my $write = sub { $primary->safe_psql('postgres', 'INSERT INTO load DEFAULT VALUES') };

	# a. the standby restarts: the WAL it received and has not replayed is
	# older than its new ring, and dated by the heartbeats in it
	my $old_lsn = $primary->lsn('flush');
	my $old_at = time;
	my $start = time;
	while (time - $start < 10)
	{
		$write->();
		usleep(200_000);
	}
	my $before = status_of($delayed)->{replay_lag_s};
	cmp_ok($before, '>=', 5, "delayed standby's replay_lag before its restart ($before s)");
	$delayed->restart;
	my $restarted = time;
	my ($lag, $since) = (0, 0);
	my $deadline = time + 10;
	while (time < $deadline)
	{
		my $s = status_of($delayed);
		($lag, $since) = ($s->{replay_lag_s}, time - $restarted);
		last if $lag ne '' && $lag > $since + 3;
		usleep(200_000);
	}
	cmp_ok($lag, '>', $since + 3,
		sprintf('standby restarted %.1f s ago dates its unreplayed WAL older than its ring: replay_lag %s s', $since, $lag));

	# b. the primary restarts: a position it passed before is dated by
	# dr_wal_positions (what dr_replicas does for each standby's positions)
	$primary->restart;
	$restarted = time;
	$deadline = time + 15;
	while (time < $deadline)
	{
		$lag = value($primary,
			"SELECT coalesce(extract(epoch FROM rpo_lag)::text, '') FROM dr_standby_lag('$old_lsn', '$old_lsn')");
		$since = time - $restarted;
		last if $lag ne '' && $lag > $since + 5;
		usleep(200_000);
	}
	cmp_ok($lag, '>', $since + 5,
		sprintf('primary restarted %.1f s ago dates WAL written before it: rpo_lag %s s', $since, $lag));
	cmp_ok($lag, '<=', time - $old_at + 1,
		sprintf('and not older than that WAL is (%.1f s)', time - $old_at));

	$_->stop for ($delayed, $primary);
};

###############################################################################
subtest '5. cascade: s2 judges its distance from the primary, not from s1' => sub {
	my $primary = new_primary('p5', $objectives);
	my $s1 = new_standby($primary, 'c1');
	my $s2 = standby_of($s1, 'c2');
	ok(defined wait_until($s2, "SELECT rpo_state FROM dr_status()", 'ok', 30), 's2 ok');
	my $c1 = status_of($s1)->{last_primary_contact};

	# s1 restarts while the primary lives: s2 comes back to ok with newer contact
	$s1->restart;
	ok(defined wait_until($s2,
			"SELECT rpo_state = 'ok' AND coalesce(last_primary_contact > " . ts($c1) . ", false) FROM dr_status()",
			't', 30), "s2 ok again after s1's restart, with contact newer than before it");

	# the primary dies; s1 is alive and keeps s2's connection busy
	$primary->stop('immediate');
	ok(defined wait_until($s1, "SELECT rpo_state FROM dr_status()", 'breach', 30), 's1: breach');
	ok(defined wait_until($s2, "SELECT rpo_state FROM dr_status()", 'breach', 30),
		's2: breach too, although its upstream s1 still streams to it');
	my $st2 = status_of($s2);
	is($st2->{receiver_status}, 'streaming', 's2 is still streaming from s1');
	my $gap = value($s2, "SELECT coalesce(extract(epoch FROM (SELECT last_primary_contact FROM dr_status()) - "
		  . ts(status_of($s1)->{last_primary_contact}) . "), 999)");
	cmp_ok(abs($gap), '<', 2, "s2's last contact is s1's, the primary's heartbeat ($gap s apart)");

	# s1 restarts during the outage: s2 keeps judging against the primary
	my $contact2 = $st2->{last_primary_contact};
	$s1->restart;
	ok(defined wait_until($s2, "SELECT receiver_status FROM dr_status()", 'streaming', 30),
		's2 streams from the restarted s1');
	my $after = status_of($s2);
	is($after->{rpo_state}, 'breach', "s2 after s1's restart: still breach");
	is($after->{last_primary_contact}, $contact2, "s2 after s1's restart: same last contact");
	is(status_of($s1)->{rpo_state}, 'breach', 's1 after its restart: breach');

	$_->stop for ($s2, $s1);
};

done_testing();
