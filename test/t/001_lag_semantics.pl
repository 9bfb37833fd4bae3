# RPO semantics on a real primary + streaming standby:
#   - an idle primary is not lag (while the naive replay-timestamp query cries wolf)
#   - paused replay under writes: replay_lag grows, rpo_lag stays small,
#     state ok -> warning -> breach, and back to ok on resume
#   - primary gone: never 'ok', contact frozen, breach past rpo_max
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use DrTest;

# Small objectives so that warning and breach come within seconds.
my $objectives = "tensafe_dr.rpo_max = '8s'\ntensafe_dr.rpo_target = '4s'\n";

my $primary = new_primary('primary', $objectives);
$primary->safe_psql('postgres',
	'CREATE TABLE load (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
	 INSERT INTO load DEFAULT VALUES;');
my $standby = new_standby($primary, 'standby');
# One commit the standby replays, so pg_last_xact_replay_timestamp() has a value.
$primary->safe_psql('postgres', 'INSERT INTO load DEFAULT VALUES');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('flush'));

###############################################################################
# 1. Idle primary: the last commit ages, the DR copy does not.
###############################################################################
ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 30),
	'standby reaches ok after start');

my $max_rpo_lag = 0;
my $naive_waited = wait_until(
	$standby,
	"SELECT now() - pg_last_xact_replay_timestamp() > interval '15 s'",
	't', 60,
	sub {
		my $s = status_of($standby);
		$max_rpo_lag = $s->{rpo_lag_s} if $s->{rpo_lag_s} ne ''
		  && $s->{rpo_lag_s} > $max_rpo_lag;
	});
ok(defined $naive_waited,
	'naive now() - pg_last_xact_replay_timestamp() exceeds 15 s on an idle primary');

my $idle = status_of($standby);
is($idle->{role}, 'standby', 'role is standby');
is($idle->{rpo_state}, 'ok', 'idle primary: standby still ok after 15+ s without commits');
cmp_ok($idle->{rpo_lag_s}, '<', 3, "idle primary: rpo_lag < 3 s ($idle->{rpo_lag_s})");
cmp_ok($idle->{replay_lag_s}, '<', 3, "idle primary: replay_lag < 3 s ($idle->{replay_lag_s})");
cmp_ok($max_rpo_lag, '<', 3, "rpo_lag never reached 3 s while idle (max $max_rpo_lag)");
is($idle->{receiver_status}, 'streaming', 'receiver streaming');
is($idle->{replay_paused}, 'false', 'replay not paused');

my $naive = $standby->safe_psql('postgres',
	"SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())");
cmp_ok($naive, '>', 15, "same moment, naive query reads $naive s");

# The primary sees the same standby as caught up, with figures, not NULLs.
my $replica = $primary->safe_psql('postgres', q{
	SELECT count(*), bool_and(rpo_lag IS NOT NULL AND replay_lag IS NOT NULL),
	       max(extract(epoch FROM rpo_lag)), max(extract(epoch FROM replay_lag)),
	       string_agg(rpo_state, ',')
	  FROM dr_replicas});
my ($n, $notnull, $p_rpo, $p_replay, $p_state) = split /\|/, $replica;
is($n, 1, 'dr_replicas lists the standby');
is($notnull, 't', 'dr_replicas lags are not NULL while idle');
cmp_ok($p_rpo, '<', 3, "dr_replicas rpo_lag < 3 s ($p_rpo)");
cmp_ok($p_replay, '<', 3, "dr_replicas replay_lag < 3 s ($p_replay)");
is($p_state, 'ok', 'dr_replicas rpo_state ok');
my $pstatus = status_of($primary);
is($pstatus->{role}, 'primary', 'primary role');
is($pstatus->{standbys}, 1, 'primary counts one standby');
is($pstatus->{rpo_state}, 'ok', 'primary rpo_state ok with a caught-up standby');

###############################################################################
# 2. Replay paused under writes: ok -> warning -> breach -> (resume) -> ok
###############################################################################
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
my $write = sub { $primary->safe_psql('postgres', 'INSERT INTO load DEFAULT VALUES') };

my $rpo_while_paused = 0;
my $track = sub {
	$write->();
	my $s = status_of($standby);
	$rpo_while_paused = $s->{rpo_lag_s} if $s->{rpo_lag_s} > $rpo_while_paused;
};
ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'warning', 30, $track),
	'paused replay under writes: warning');
my $warn = status_of($standby);
cmp_ok($warn->{replay_lag_s}, '>=', 4, "warning: replay_lag >= rpo_target ($warn->{replay_lag_s})");
like($warn->{state_reason}, qr/replay_lag .* rpo_target/, "reason names replay_lag: $warn->{state_reason}");
is($warn->{replay_paused}, 'true', 'replay_paused reported');

ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'breach', 30, $track),
	'paused replay under writes: breach');
my $breach = status_of($standby);
cmp_ok($breach->{replay_lag_s}, '>=', 8, "breach: replay_lag >= rpo_max ($breach->{replay_lag_s})");
cmp_ok($rpo_while_paused, '<', 3,
	"rpo_lag stayed < 3 s: WAL was still received durably (max $rpo_while_paused)");

# The primary sees the same: replay behind, flush caught up.  It dates the
# standby's positions from its own ring, so it may cross the line up to one
# sample interval apart from the standby: poll.
ok(defined wait_until($primary, "SELECT rpo_state FROM dr_replicas", 'breach', 10, $write),
	"primary's dr_replicas reaches breach too");
my ($r_rpo, $r_replay, $r_state) = split /\|/, $primary->safe_psql('postgres',
	"SELECT extract(epoch FROM rpo_lag), extract(epoch FROM replay_lag), rpo_state FROM dr_replicas");
cmp_ok($r_replay, '>=', 8, "primary's dr_replicas: replay_lag >= 8 s ($r_replay)");
cmp_ok($r_rpo, '<', 3, "primary's dr_replicas: rpo_lag < 3 s ($r_rpo)");
is($r_state, 'breach', "primary's dr_replicas: breach");
is(status_of($primary)->{rpo_state}, 'breach', 'primary dr_status shows the worst standby');

$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 30, $write),
	'resumed: back to ok');
my $recovered = status_of($standby);
cmp_ok($recovered->{replay_lag_s}, '<', 3, "recovered replay_lag < 3 s ($recovered->{replay_lag_s})");
ok(defined wait_until($primary, "SELECT rpo_state FROM dr_status()", 'ok', 30),
	'primary back to ok');

###############################################################################
# 3. Primary gone: leaves ok within a few samples, contact frozen, then breach.
###############################################################################
my $stopped_at = time;
$primary->stop('immediate');
my $left_ok = wait_until($standby, "SELECT rpo_state <> 'ok' FROM dr_status()", 't', 30);
ok(defined $left_ok, 'standby leaves ok once the primary is gone');
cmp_ok($left_ok, '<', 5, sprintf('left ok within a few samples (%.1f s)', $left_ok // -1));

my $cut = status_of($standby);
isnt($cut->{rpo_state}, 'ok', "cut off: rpo_state is $cut->{rpo_state}");
my $contact1 = $cut->{last_primary_contact};
isnt($contact1, '', 'last_primary_contact known');

ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'breach', 30),
	'cut off: breach once contact is older than rpo_max');
my $late = status_of($standby);
is($late->{last_primary_contact}, $contact1, 'last_primary_contact frozen while cut off');
cmp_ok($late->{rpo_lag_s}, '>=', 8, "cut off: rpo_lag counts from last contact ($late->{rpo_lag_s})");
like($late->{state_reason}, qr/last contact with the primary/, "reason: $late->{state_reason}");
ok(time - $stopped_at < 40, 'the whole cut-off phase took less than 40 s');

$standby->stop;
done_testing();
