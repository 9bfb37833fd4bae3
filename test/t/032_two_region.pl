# The runbook's own architecture (1.2), end to end, and its Level 3 drill
# (3.1): region A = etcd + a Patroni cluster of two nodes; region B = its own
# etcd + a Patroni *standby cluster* of two nodes (b1 standby leader
# streaming from A through a cross-region link the test controls, b2
# cascading from b1).  A writer commits numbered rows in A; the link is cut,
# then region A killed; region B goes to breach, the incident is declared
# there, B is promoted the Patroni way (standby_cluster taken out of its DCS
# config) through the gate, and the acknowledged rows B lacks are counted
# against the gate's estimate.  TwoRegion.pm kills every process by PID at
# the end, on failure and on Ctrl-C.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use TwoRegion;

TwoRegion::install_signal_handlers();

my $rpo_max = 6;
my $sample = 1;
my $dir = PostgreSQL::Test::Utils::tempdir('two_region');
my $tr = TwoRegion->new(
	dir => $dir,
	scripts => "$ENV{TESTDIR}/patroni",
	params => {
		'tensafe_dr.rpo_target' => '3s',
		'tensafe_dr.rpo_max' => "${rpo_max}s",
		'tensafe_dr.promote_max_lag' => '5s',
	});

my $t0 = time;
my $A = $tr->start_region_a;
my $B = $tr->start_region_b;
pass(sprintf('two regions up in %.0f s: a1 leader, a2 replica; b1 standby leader through the link, b2 cascading from b1', time - $t0));
is($B->sql('b1', 'SELECT region FROM dr_status()'), 'us-west-2', 'region B nodes know their region');
$B->wait_for(sub { $B->sql($_, 'SELECT rpo_state FROM dr_status()') eq 'ok' or die for qw(b1 b2); 1 }, 60, 'region B ok');
pass('both region-B nodes ok');

###############################################################################
# Write load, then region A lost: the link cut, then every process of A killed.
###############################################################################
my $ackfile = "$dir/acked";
$tr->start_writer($A->{nodes}{a1}{port}, $ackfile);
$B->wait_for(sub { $B->sql('b2', 'SELECT count(*) FROM drill_rows') >= 100 }, 60, 'rows reach b2');
my $cut = $tr->cut_link;
my $killed = $A->kill_all9;
note(sprintf('link cut, region A killed %.3f s later', $killed - $cut));
$B->wait_for(sub { !kill(0, $tr->{pids}{writer}) || waitpid($tr->{pids}{writer}, 1) > 0 }, 30, 'writer ended');
my $acked = $tr->acked($ackfile);
ok(scalar(keys %$acked) >= 100, scalar(keys %$acked) . ' rows acknowledged by region A');

###############################################################################
# Every region-B node reaches breach within one sample of its contact age
# passing rpo_max, with the right last contact; the cascade agrees.
###############################################################################
my %contact;
for my $n (qw(b1 b2))
{
	my $w = $B->wait_for(sub {
		$B->sql($n, "SELECT count(*) FROM dr_events WHERE event_type = 'RPO_BREACH' AND occurred_at > to_timestamp($cut)") >= 1
	}, 60, "$n in breach");
	my ($c, $late) = split /\|/, $B->sql($n, qq{
		SELECT extract(epoch FROM s.last_primary_contact),
		       extract(epoch FROM e.occurred_at - (s.last_primary_contact + s.rpo_max))
		  FROM dr_status() s,
		       LATERAL (SELECT occurred_at FROM dr_events WHERE event_type = 'RPO_BREACH'
		                   AND occurred_at > to_timestamp($cut) ORDER BY occurred_at LIMIT 1) e});
	$contact{$n} = $c;
	note(sprintf('%s: last contact %.3f s before the cut; breach %.3f s after contact age passed rpo_max',
		$n, $cut - $c, $late));
	ok($late >= -0.05 && $late <= $sample + 0.25,
		sprintf('%s: breach %.3f s after contact age passed rpo_max (one sample: %d s)', $n, $late, $sample));
	ok($c <= $cut + 0.05 && $c >= $cut - 2.5,
		sprintf('%s: last_primary_contact %.3f s before the cut (heartbeat 1 s, scan and sample)', $n, $cut - $c));
	is($B->sql($n, 'SELECT rpo_state FROM dr_status()'), 'breach', "$n: rpo_state breach");
}
ok(abs($contact{b2} - $contact{b1}) < 1.0,
	sprintf('cascade b2 agrees with its upstream b1 on the last primary contact (%.3f s apart)', abs($contact{b2} - $contact{b1})));
is($B->sql('b2', 'SELECT pg_is_in_recovery()'), 't', 'no writable node anywhere (b2)');
is($B->sql('b1', 'SELECT pg_is_in_recovery()'), 't', 'no writable node anywhere (b1)');

###############################################################################
# Declare on the DR side: journalled on the standby leader.
###############################################################################
is($B->sql('b1', "SELECT coalesce(dr_declare(3, 'region us-east-1 lost')::text, 'journalled')"), 'journalled',
	'dr_declare(3) on the standby leader: journalled');
is($B->sql('b1', "SELECT count(*) FROM dr_events WHERE event_type = 'DR_INITIATED' AND pending"), 1,
	'DR_INITIATED pending in b1 journal');

###############################################################################
# Promote region B the Patroni way: take standby_cluster out of its config.
###############################################################################
my @pending = split /\n/, $B->sql('b1', q{SELECT event_type || '|' || occurred_at FROM dr_events WHERE pending ORDER BY occurred_at});
ok(scalar(@pending) >= 2, scalar(@pending) . ' events journalled on b1 during the outage');
my $t_promote = time;
my $cfg = $B->patch_config('b1', { standby_cluster => undef });
ok(!exists $cfg->{standby_cluster}, 'standby_cluster taken out of region B DCS config');
$B->wait_for(sub { $B->is_leader('b1') && $B->sql('b1', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 90, 'b1 writable');
my $writable = time;
note(sprintf('region B writable %.1f s after the cut (%.1f s after the config change)', $writable - $cut, $writable - $t_promote));
pass(sprintf('region B writable %.1f s after the cut', $writable - $cut));
$B->wait_for(sub { $B->sql('b1', 'SELECT pending_events FROM dr_status()') == 0 }, 60, 'b1 journal flushed');

my $check = $B->sql('b1', q{SELECT (details->>'promotable') || '|' || (details->>'loss_s') || '|' || (details->>'reason')
	FROM dr_events WHERE event_type = 'PROMOTE_CHECK' AND NOT pending ORDER BY occurred_at DESC LIMIT 1});
my ($promotable, $estimate, $reason) = split /\|/, $check // '';
is($promotable, 'true', "the gate ran on b1 and recorded its verdict: $reason");
is($B->sql('b1', "SELECT count(*) FROM dr_events WHERE event_type = 'PROMOTION_DETECTED' AND occurred_at > to_timestamp($t_promote)"), 1,
	'PROMOTION_DETECTED recorded once on b1');
my $dup = 0;
for my $p (@pending)
{
	my ($type, $at) = split /\|/, $p, 2;
	my $n = $B->sql('b1', "SELECT count(*) FROM dr_event_log WHERE event_type = '$type' AND occurred_at = '$at'");
	$dup++ if $n != 1;
	diag("$type at $at landed $n times") if $n != 1;
}
is($dup, 0, 'every event journalled on b1 during the outage landed exactly once');
is($B->sql('b1', q{SELECT count(*) FROM dr_incidents WHERE level = 3 AND summary = 'region us-east-1 lost' AND resolved_at IS NULL}), 1,
	'the journalled declaration became an open incident');

###############################################################################
# Data loss, measured: acknowledged rows region B lacks, against the gate.
###############################################################################
my %have = map { $_ => 1 } split /\n/, $B->sql('b1', 'SELECT id FROM drill_rows');
my @lost = sort { $a <=> $b } grep { !$have{$_} } keys %$acked;
my ($newest_b) = $B->sql('b1', 'SELECT extract(epoch FROM max(at)) FROM drill_rows');
my $last_acked = (sort { $b <=> $a } values %$acked)[0];
my $truth = @lost ? $last_acked - $newest_b : 0;
note(sprintf('data loss: %d acknowledged rows (ids %s..%s), %.3f s of commits; gate estimate %s s',
	scalar(@lost), $lost[0] // '-', $lost[-1] // '-', $truth, $estimate));
ok(defined $estimate && $estimate >= $truth,
	sprintf('gate estimate %.3f s is not below the measured loss %.3f s (%d rows)', $estimate // -1, $truth, scalar(@lost)));
my $gaps = grep { $_ < ($lost[0] // 9e18) && !$have{$_} } keys %$acked;
is($gaps, 0, 'no acknowledged row older than the newest one region B holds is missing');

# b2 follows its new leader on the new timeline
$B->wait_for(sub { $B->is_replica('b2') && $B->sql('b2', 'SELECT timeline FROM dr_status()') == $B->sql('b1', 'SELECT timeline FROM dr_status()') }, 90,
	'b2 follows b1 on its new timeline');
pass('b2 follows the promoted b1 on its new timeline');

diag(sprintf('FIGURES cut->writable %.1f s; loss %d rows / %.3f s; estimate %s s', $writable - $cut, scalar(@lost), $truth, $estimate));
$tr->stop_all;
done_testing();
