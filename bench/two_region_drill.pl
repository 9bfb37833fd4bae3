# bench/two_region_drill.pl — the Level 3 drill of test/t/032_two_region.pl
# over ROUNDS rounds (default 5), measured (issue 15).  TAP output (one ok
# per round that completed, figures as diag), so it runs wherever a TAP
# test runs: bench/two_region_drill.sh (which builds and installs), or a
# test lane, e.g.
#   LANE_SRC=$PWD DR_BUILD_DIR=/var/tmp/x PROVE_TESTS=bench/two_region_drill.pl \
#     DR_SKIP_REGRESS=1 ROUNDS=5 tdr-lane2
# Each round: fresh regions A (Patroni, 2 nodes) and B (Patroni standby
# cluster, 2 nodes, b2 cascading) from test/lib/TwoRegion.pm; a writer
# commits numbered rows in A; the link is cut and region A killed at once;
# then
#   - cut -> breach on b1 and b2 (the RPO_BREACH each journalled);
#   - cut -> region B writable, promoted by taking standby_cluster out of
#     its DCS config as soon as b1 is in breach (the decision point): with
#     the pre_promote gate in odd rounds, without it in even rounds;
#   - data loss: acknowledged rows B lacks, and their span in seconds,
#     against the gate's estimate (PROMOTE_CHECK loss_s; gate rounds only);
#   - failback: region A re-cloned as a standby cluster of B, lag < 1 s,
#     B fenced, final LSN replayed in A, A promoted: time from the start of
#     the re-clone to A writable, and from the fence to A writable.
# RTO (outage start -> writable) against the runbook's 1 h target, as a
# ratio.  Settings: rpo_max 6 s, sample and heartbeat 1 s, Patroni ttl 10,
# loop_wait 2 (the test's).
use strict;
use warnings;

use JSON::PP;
use List::Util qw(max min sum);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use TwoRegion;

TwoRegion::install_signal_handlers();
my $rounds = $ENV{ROUNDS} // 5;
my (@rows);

sub median { my @s = sort { $a <=> $b } grep { defined } @_; return undef unless @s; return $s[ $#s / 2 ] if @s % 2; return ($s[ @s / 2 - 1 ] + $s[ @s / 2 ]) / 2; }

for my $round (1 .. $rounds)
{
	my $gate = $round % 2 ? 1 : 0;
	my $dir = PostgreSQL::Test::Utils::tempdir("two_region_bench_$round");
	my $tr = TwoRegion->new(dir => $dir, scripts => "$ENV{TESTDIR}/patroni", pre_promote => $gate,
		params => { 'tensafe_dr.rpo_target' => '3s', 'tensafe_dr.rpo_max' => '6s', 'tensafe_dr.promote_max_lag' => '5s' });
	my %r = (round => $round, gate => $gate);
	eval {
		my $A = $tr->start_region_a;
		my $B = $tr->start_region_b;
		$B->wait_for(sub { $B->sql($_, 'SELECT rpo_state FROM dr_status()') eq 'ok' or die for qw(b1 b2); 1 }, 60, 'region B ok');
		$tr->start_writer($A->{nodes}{a1}{port}, "$dir/acked");
		$B->wait_for(sub { $B->sql('b2', 'SELECT count(*) FROM drill_rows') >= 100 }, 60, 'rows reach b2');
		my $cut = $tr->cut_link;
		$A->kill_all9;
		$B->wait_for(sub { waitpid($tr->{pids}{writer}, 1) > 0 }, 30, 'writer ended');
		delete $tr->{pids}{writer};
		my $acked = $tr->acked("$dir/acked");
		for my $n (qw(b1 b2))
		{
			$B->wait_for(sub { $B->sql($n, "SELECT count(*) FROM dr_events WHERE event_type = 'RPO_BREACH' AND occurred_at > to_timestamp($cut)") >= 1 }, 60, "$n breach");
			$r{"breach_$n"} = $B->sql($n, "SELECT extract(epoch FROM min(occurred_at)) - $cut FROM dr_events WHERE event_type = 'RPO_BREACH' AND occurred_at > to_timestamp($cut)");
		}
		my $t_patch = time;
		$B->patch_config('b1', { standby_cluster => undef });
		$B->wait_for(sub { $B->is_leader('b1') && $B->sql('b1', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 120, 'b1 writable');
		$r{writable} = time - $cut;
		$r{promote} = time - $t_patch;
		$B->wait_for(sub { $B->sql('b1', 'SELECT pending_events FROM dr_status()') == 0 }, 60, 'b1 flushed');
		$r{estimate} = $B->sql('b1', q{SELECT details->>'loss_s' FROM dr_event_log WHERE event_type = 'PROMOTE_CHECK' AND (details->>'promotable')::boolean ORDER BY id DESC LIMIT 1}) if $gate;
		my %have = map { $_ => 1 } split /\n/, $B->sql('b1', 'SELECT id FROM drill_rows');
		my @lost = grep { !$have{$_} } keys %$acked;
		my $newest = $B->sql('b1', 'SELECT extract(epoch FROM max(at)) FROM drill_rows');
		$r{lost_rows} = scalar @lost;
		$r{lost_s} = @lost ? max(values %$acked) - $newest : 0;
		# failback
		my $t_fb = time;
		my $A2 = $tr->rebuild_region_a('b1');
		$B->sql('b1', q{SELECT dr_wait_for_lag('1 s', '60 s')}) eq 't' or die 'lag not under 1 s';
		my $t_fence = time;
		$B->sql('b1', q{SELECT dr_fence('failback')});
		my $final = $B->sql('b1', q{SELECT details->>'flush_lsn' FROM dr_event_log WHERE event_type = 'FENCED' ORDER BY id DESC LIMIT 1});
		$A2->sql('a1', "SELECT dr_wait_for_lsn('$final', '60 s')") eq 't' or die 'final LSN not replayed';
		$A2->patch_config('a1', { standby_cluster => undef });
		$A2->wait_for(sub { $A2->is_leader('a1') && $A2->sql('a1', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 120, 'a1 writable');
		$r{failback} = time - $t_fb;
		$r{fence_to_writable} = time - $t_fence;
		1;
	} or diag("round $round failed: $@");
	$tr->stop_all;
	ok(defined $r{failback}, "round $round (" . ($gate ? 'gate' : 'no gate') . ') complete');
	diag(sprintf('round %d %-7s breach b1 %.2f s b2 %.2f s | writable %.1f s (config change -> writable %.1f s) | lost %s rows / %.3f s, estimate %s s | failback %.1f s (fence->A writable %.1f s) | RTO/1h %.4f',
		$round, $gate ? 'gate' : 'no-gate', map({ $_ // -1 } @r{qw(breach_b1 breach_b2 writable promote)}), $r{lost_rows} // '-', $r{lost_s} // -1,
		$r{estimate} // '-', $r{failback} // -1, $r{fence_to_writable} // -1, ($r{writable} // 0) / 3600));
	push @rows, \%r;
}

my @g = grep { $_->{gate} } @rows;
my @n = grep { !$_->{gate} } @rows;
diag(sprintf('MEDIANS cut->breach b1 %.2f s, b2 %.2f s; cut->writable gate %.1f s, no gate %.1f s; config change->writable gate %.1f s, no gate %.1f s; failback %.1f s; RTO/1h (gate) %.4f',
	median(map { $_->{breach_b1} } @rows), median(map { $_->{breach_b2} } @rows),
	median(map { $_->{writable} } @g) // -1, median(map { $_->{writable} } @n) // -1,
	median(map { $_->{promote} } @g) // -1, median(map { $_->{promote} } @n) // -1,
	median(map { $_->{failback} } @rows) // -1, (median(map { $_->{writable} } @g) // 0) / 3600));
my @bad = grep { defined $_->{estimate} && $_->{estimate} < $_->{lost_s} } @g;
is(scalar(@bad), 0, 'gate estimate never below the measured loss');
done_testing();
