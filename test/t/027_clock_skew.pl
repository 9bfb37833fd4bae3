# 027_clock_skew: truth when the nodes' clocks disagree (issue 18).
#
# One primary on the host's clock, three standbys: "ahead" 30 s ahead,
# "behind" 30 s behind, "plain" on the host's clock.  The skewed ones run
# with test/lib/clockshift.c preloaded (every process of the node, the
# postmaster's children included, on the shifted wall clock; monotonic
# clocks untouched).  Not Debian's faketime: libfaketime marks time as real
# while inside its select() wrapper, so the children a PostgreSQL 15
# postmaster forks from its signal handler (the WAL receiver, the
# background workers) keep the real clock while backends get the fake one --
# two clocks in one node, which no real host has (see clockshift.c).  Every
# age a node reports is on its own clock, so:
#   - a healthy idle pair reads ok on both skewed standbys (no false breach);
#   - a killed primary reaches breach on every standby within one sample
#     after rpo_max has passed since the kill (no hidden outage), and not
#     before rpo_max;
#   - clock_offset is reported within a second of the truth, and CLOCK_SKEW
#     is journalled;
#   - dr_promote_check() gives a skewed standby the verdict of the unskewed
#     one, and says that the offset was taken out.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $shim = PostgreSQL::Test::Utils::tempdir() . '/clockshift.so';
system('gcc', '-shared', '-fPIC', '-O2', '-o', $shim, 'test/lib/clockshift.c', '-ldl') == 0
  or BAIL_OUT('could not build test/lib/clockshift.c');

my $rpo_max = 8;
my $conf = <<"CONF";
tensafe_dr.rpo_target = '4s'
tensafe_dr.rpo_max = '${rpo_max}s'
CONF

my $primary = new_primary('primary', $conf);
$primary->backup('b');

# A standby whose postmaster (and so every child) runs on a clock shifted by
# $skew seconds.
sub skewed_standby
{
	my ($name, $skew) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($primary, 'b', has_streaming => 1);
	local $ENV{LD_PRELOAD} = $shim if $skew;
	local $ENV{DR_CLOCK_SHIFT_S} = $skew if $skew;
	$node->start;
	return $node;
}

my %skew = (ahead => 30, behind => -30, plain => 0);
my %node;
$node{$_} = skewed_standby($_, $skew{$_}) for qw(ahead behind plain);
$primary->wait_for_catchup($node{$_}, 'replay', $primary->lsn('flush')) for keys %node;

sub epoch { return $_[0]->safe_psql('postgres', 'SELECT extract(epoch FROM clock_timestamp())'); }

# The skew really applies: to backends, and to the WAL receiver (forked by
# the postmaster from its signal handler), whose receipt times are this
# node's clock and send times the primary's.
for my $n (qw(ahead behind plain))
{
	my $t0 = epoch($primary);
	my $d = epoch($node{$n}) - $t0;
	ok(abs($d - $skew{$n}) < 2, sprintf("%s standby's clock is %+.1f s from the primary's", $n, $d));
	my $rcv = $node{$n}->safe_psql('postgres',
		'SELECT extract(epoch FROM last_msg_receipt_time - last_msg_send_time) FROM pg_stat_wal_receiver');
	ok(abs($rcv - $skew{$n}) < 2, sprintf("%s: its WAL receiver's clock too (%+.1f s)", $n, $rcv));
}

# --- a healthy idle pair: ok everywhere, with the offset shown -----------
for my $n (qw(ahead behind plain))
{
	ok(defined wait_until($node{$n}, 'SELECT rpo_state FROM dr_status()', 'ok', 30),
		"$n: a healthy idle standby reads ok");
}
# ok, and stays ok, over several samples and heartbeats
my %worst = map { $_ => 0 } keys %node;
my %states;
for (1 .. 10)
{
	for my $n (keys %node)
	{
		my $s = status_of($node{$n});
		$states{$n}{ $s->{rpo_state} }++;
		$worst{$n} = $s->{rpo_lag_s} if $s->{rpo_lag_s} ne '' && $s->{rpo_lag_s} > $worst{$n};
	}
	usleep(400_000);
}
for my $n (qw(ahead behind plain))
{
	is_deeply($states{$n}, { ok => 10 }, "$n: ok in every reading over 4 s of an idle primary");
	cmp_ok($worst{$n}, '<', 3, "$n: rpo_lag stays below 3 s (worst " . $worst{$n} . ' s)');
}

# the offset, within a second of the truth (positive: the standby is ahead)
my %offset;
for my $n (qw(ahead behind plain))
{
	my $q = "SELECT clock_offset IS NOT NULL FROM dr_status()";
	ok(defined wait_until($node{$n}, $q, 't', 10), "$n: clock_offset is known");
	$offset{$n} = $node{$n}->safe_psql('postgres', 'SELECT extract(epoch FROM clock_offset) FROM dr_status()');
	ok(abs($offset{$n} - $skew{$n}) < 1, "$n: clock_offset $offset{$n} s is within 1 s of $skew{$n} s");
}
is($primary->safe_psql('postgres', 'SELECT clock_offset IS NULL FROM dr_status()'), 't',
	'a primary shows no clock_offset');
is($node{behind}->safe_psql('postgres',
		"SELECT round(value) FROM dr_metrics_rows('tensafe_dr_clock_offset_seconds')"),
	'-30', 'the metric tensafe_dr_clock_offset_seconds on the standby behind');
is($primary->safe_psql('postgres',
		"SELECT count(*) FROM dr_metrics_rows('tensafe_dr_clock_offset_seconds')"),
	'0', 'no clock offset metric on the primary');

# CLOCK_SKEW journalled on the skewed standbys only
for my $n (qw(ahead behind))
{
	ok(defined wait_until($node{$n},
			"SELECT count(*) FROM dr_events WHERE event_type = 'CLOCK_SKEW'", '1', 10),
		"$n: CLOCK_SKEW recorded once");
}
is($node{plain}->safe_psql('postgres', "SELECT count(*) FROM dr_events WHERE event_type LIKE 'CLOCK_SKEW%'"),
	'0', 'plain: no CLOCK_SKEW');
is($node{ahead}->safe_psql('postgres',
		"SELECT (details->>'clock_offset_s')::numeric BETWEEN 29 AND 31 FROM dr_events WHERE event_type = 'CLOCK_SKEW'"),
	't', 'the event carries the offset');

# the gate, healthy: the same verdict everywhere
my %check;
for my $n (qw(ahead behind plain))
{
	$check{$n} = $node{$n}->safe_psql('postgres',
		"SELECT promotable, extract(epoch FROM possible_loss) < 3, reason FROM dr_promote_check()",
		extra_params => [ '-F', "\t" ]);
}
for my $n (qw(ahead behind))
{
	my ($p, $small, $reason) = split /\t/, $check{$n};
	my ($pp, $psmall) = split /\t/, $check{plain};
	is("$p $small", "$pp $psmall", "$n: healthy, the gate's verdict equals the unskewed standby's ($p)");
	like($reason, qr/clock is [+-]\d+\.\d+ s off the primary's, taken out of the figures/,
		"$n: the reason says the offset was taken out");
}
is((split /\t/, $check{plain})[0], 't', 'healthy: promotable');

# --- the primary dies: breach on every standby, on time -------------------
$primary->stop('immediate');
my $killed = time;
my %breach_at;
my %early;
while (time - $killed < $rpo_max + 6 && keys %breach_at < 3)
{
	for my $n (keys %node)
	{
		next if $breach_at{$n};
		my $s = status_of($node{$n});
		if ($s->{rpo_state} eq 'breach')
		{
			$breach_at{$n} = time - $killed;
			$early{$n} = $s->{state_reason};
		}
	}
	usleep(100_000);
}
for my $n (qw(ahead behind plain))
{
	ok(defined $breach_at{$n}, "$n: breach after the primary was killed");
	next unless defined $breach_at{$n};
	# the last heartbeat arrived up to one heartbeat before the kill; the
	# state is judged live, so one sample (1 s) of slack is generous
	cmp_ok($breach_at{$n}, '>=', $rpo_max - 1.5,
		sprintf('%s: not before rpo_max (%.1f s after the kill)', $n, $breach_at{$n}));
	cmp_ok($breach_at{$n}, '<=', $rpo_max + 1,
		sprintf('%s: within one sample after rpo_max (%.1f s after the kill)', $n, $breach_at{$n}));
	like($early{$n}, qr/last contact with the primary (\d+\.\d) s ago/, "$n: the reason gives the contact age");
}

# the gate, cut off: the same verdict everywhere, the loss bounded alike
for my $n (qw(ahead behind plain))
{
	$check{$n} = $node{$n}->safe_psql('postgres',
		"SELECT promotable, round(extract(epoch FROM possible_loss))::int, reason FROM dr_promote_check()",
		extra_params => [ '-F', "\t" ]);
}
for my $n (qw(ahead behind))
{
	my ($p, $loss) = split /\t/, $check{$n};
	my ($pp, $ploss) = split /\t/, $check{plain};
	is($p, $pp, "$n: cut off, the gate's verdict equals the unskewed standby's ($p)");
	ok(abs($loss - $ploss) <= 1, "$n: possible loss $loss s, unskewed $ploss s");
}
note("verdicts: " . join(' | ', map { "$_: $check{$_}" } sort keys %check));

$_->stop('immediate') for values %node;
done_testing();
