# Metrics: dr_metrics() on a primary and a standby passes promtool's check,
# with the figures of the catalogs it reads (events, breaches, incidents,
# backups, webhook failures) and hostile label values escaped; the real
# prometheus-postgres-exporter, connected as a role with pg_monitor only and
# given monitoring/postgres_exporter_queries.yaml, serves the same families
# (names, types, HELP, labels, values).
use strict;
use warnings;

use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $promtool = '/usr/bin/promtool';
my $exporter_bin = '/usr/bin/prometheus-postgres-exporter';
my $queries = "$ENV{TESTDIR}/monitoring/postgres_exporter_queries.yaml";
-x $promtool or BAIL_OUT("$promtool missing: test/setup.sh installs the prometheus package");
-x $exporter_bin or BAIL_OUT("$exporter_bin missing: test/setup.sh installs prometheus-postgres-exporter");

my $exporter_pid;
sub stop_exporter
{
	return unless $exporter_pid;
	kill 'TERM', $exporter_pid;
	waitpid($exporter_pid, 0);
	$exporter_pid = undef;
}
END { local $?; stop_exporter(); }

# promtool(text) -> (exit code, output)
sub promtool
{
	my ($text) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', \$text, '>', \$out, '2>', \$err);
	return ($? >> 8, $out . $err);
}

sub unescape
{
	my ($s) = @_;
	$s =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
	return $s;
}

# parse(text) -> { help => {family => text}, type => {family => type},
#                  samples => {key => value}, labels => {key => {labels}} }
# key = family name and its labels (without the exporter's "server") as
# canonical JSON.
my $json = JSON::PP->new->canonical;
sub parse
{
	my ($text) = @_;
	my %p = (help => {}, type => {}, samples => {}, labels => {});
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^# HELP (\S+) (.*)$/) { $p{help}{$1} = unescape($2); next }
		if ($line =~ /^# TYPE (\S+) (\S+)$/) { $p{type}{$1} = $2; next }
		next if $line =~ /^#/ || $line eq '';
		$line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/ or die "unparsable sample: $line";
		my ($name, $lab, $value) = ($1, $2 // '', $3);
		my %l;
		while ($lab =~ /\G([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gc)
		{
			$l{$1} = unescape($2);
		}
		die "unparsable labels: $lab" unless (pos($lab) // 0) == length($lab);
		delete $l{server};
		my $key = $name . $json->encode(\%l);
		$p{samples}{$key} = $value;
		$p{labels}{$key} = \%l;
	}
	return \%p;
}

sub key { my ($name, %l) = @_; return $name . $json->encode(\%l) }

# The hostile strings: a standby whose application_name holds a double quote
# and a backslash, an event type with a double quote, a backslash and a
# newline.  (tensafe_dr.node_name and .region refuse all three, and
# PostgreSQL turns control characters of cluster_name and application_name
# into '?'.)
my $hostile_standby = 'sb"q\\x';
my $hostile_type = "evil\"type\\\nx";

my $conf = <<'CONF';
tensafe_dr.region = 'us-east'
tensafe_dr.rto_target = '1min'
tensafe_dr.rto_max = '2min'
tensafe_dr.webhook_max_attempts = 1
tensafe_dr.webhook_connect_timeout = '500ms'
tensafe_dr.webhook_timeout = '1s'
CONF
my $primary = new_primary('primary', $conf);

# The standby, streaming under the hostile application_name (conf level:
# '' is a quote and \\ a backslash; libpq level: \\ is a backslash).
$primary->backup('standby_backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'standby_backup', has_streaming => 1);
my $connstr = $primary->connstr;
$standby->append_conf('postgresql.conf',
	"tensafe_dr.region = 'us-west'\n"
	  . "primary_conninfo = '$connstr application_name=''sb\"q\\\\\\\\x'''\n");
$standby->start;
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_replicas WHERE standby_name = E'sb"q\\\\x' AND state = 'streaming'},
	'1', 30), 'standby streaming under the hostile application_name');

# A refused port: deliveries fail at once and, with one attempt allowed,
# are given up.  The URL carries a password: it must not reach the metrics.
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
my $secret = 'metrics-test-secret-0123456789';
$primary->safe_psql('postgres', qq{
	SELECT dr_webhook_add('pager', 'http://user:hunter2\@127.0.0.1:$dead_port/hook', '$secret', ARRAY['DR_INITIATED']);
	SELECT dr_webhook_add('quiet', 'http://127.0.0.1:$dead_port/quiet', '$secret', ARRAY['NEVER_SENT']);
	CREATE ROLE metrics_reader LOGIN IN ROLE pg_monitor;
	CREATE ROLE metrics_nobody LOGIN;
});

###############################################################################
# State on the primary: two incidents (one open, one resolved past rto_max),
# an RPO_BREACH, an event with a hostile type, a verified backup an hour old
# (and a newer failed one), webhook failures.
###############################################################################
my $open = $primary->safe_psql('postgres', q{SELECT dr_declare(2, 'metrics: open incident')});
my $late = $primary->safe_psql('postgres', q{SELECT dr_declare(1, 'metrics: late incident')});
$primary->safe_psql('postgres', qq{
	UPDATE dr_incidents SET declared_at = declared_at - interval '1 hour' WHERE id = $late;
	SELECT dr_resolve($late, 'fixed, late');
	-- RPO_BREACH is reserved for the worker (dr_record_event refuses it):
	-- the superuser writes the row the worker would have flushed
	INSERT INTO dr_event_log (event_type, details, successful)
	VALUES ('RPO_BREACH', '{"rpo_lag_s": 1000}', false);
});
is($primary->safe_psql('postgres', "SELECT rto_state FROM dr_incidents WHERE id = $late"), 'breach',
	'the late incident breached rto_max');
$primary->safe_psql('postgres', <<'SQL');
INSERT INTO dr_event_log (event_type) VALUES (E'evil"type\\\nx');
INSERT INTO dr_backups (source, path, label, stop_time, verified_at, verification_ok, problems)
VALUES ('pg_basebackup', '/nonexistent/ok', 'good', now() - interval '1 hour', now(), true, 0),
       ('pg_basebackup', '/nonexistent/bad', 'bad', now(), now(), false, 3);
SQL
ok(defined wait_until($primary,
	q{SELECT count(*) FILTER (WHERE status = 'failed') || '/' || count(*) FROM dr_notifications WHERE channel = 'pager'},
	'2/2', 30), 'both DR_INITIATED deliveries given up as failed');
ok(defined wait_until($primary, q{SELECT rpo_state FROM dr_status()}, 'ok', 30), 'primary rpo_state ok');

sub metrics_of
{
	my ($node, $role) = @_;
	my $sql = 'SELECT dr_metrics()';
	$sql = "SET ROLE $role; $sql" if $role;
	my $out = $node->safe_psql('postgres', $sql);
	return $out . "\n";    # psql strips the final newline
}

my $text = metrics_of($primary, 'metrics_reader');
note("dr_metrics() on the primary:\n$text");
my ($rc, $lint) = promtool($text);
is($rc, 0, 'promtool check metrics: primary output passes') or diag("$lint\n$text");
is($lint, '', 'promtool has no complaint');
unlike($text, qr/hunter2|\Q$secret\E|127\.0\.0\.1/, 'no webhook URL, password or secret in the metrics');
like($text, qr/^tensafe_dr_standby_rpo_lag_seconds\{node="primary",region="us-east",standby="sb\\"q\\\\x"\} [0-9.e+-]+$/m,
	'standby label escaped: \" and \\\\');
like($text, qr/^tensafe_dr_events_total\{node="primary",region="us-east",type="evil\\"type\\\\\\nx"\} 1$/m,
	'event type label escaped: \", \\\\ and \\n');

my $p = parse($text);
my %id = (node => 'primary', region => 'us-east');
my %want = (
	key('tensafe_dr_in_recovery', %id) => 0,
	key('tensafe_dr_attached_standbys', %id) => 1,
	key('tensafe_dr_worker_up', %id) => 1,
	key('tensafe_dr_rpo_target_seconds', %id) => 300,
	key('tensafe_dr_rpo_max_seconds', %id) => 900,
	key('tensafe_dr_events_total', %id, type => 'DR_INITIATED') => 2,
	key('tensafe_dr_events_total', %id, type => 'DR_COMPLETE') => 1,
	key('tensafe_dr_events_total', %id, type => 'RPO_BREACH') => 1,
	key('tensafe_dr_events_total', %id, type => $hostile_type) => 1,
	key('tensafe_dr_breaches_total', %id, objective => 'rpo') => 1,
	key('tensafe_dr_breaches_total', %id, objective => 'rto') => 1,
	key('tensafe_dr_open_incidents', %id, level => '1') => 0,
	key('tensafe_dr_open_incidents', %id, level => '2') => 1,
	key('tensafe_dr_open_incidents', %id, level => '3') => 0,
	key('tensafe_dr_open_incidents', %id, level => '4') => 0,
	key('tensafe_dr_notification_failures_total', %id, channel => 'pager') => 2,
	key('tensafe_dr_notification_failures_total', %id, channel => 'quiet') => 0,
	key('tensafe_dr_notifications_pending', %id, channel => 'pager') => 0,
	key('tensafe_dr_rpo_state', %id, state => 'ok') => 1,
	key('tensafe_dr_rpo_state', %id, state => 'warning') => 0,
	key('tensafe_dr_rpo_state', %id, state => 'breach') => 0,
	key('tensafe_dr_rpo_state', %id, state => 'unknown') => 0);
for my $k (sort keys %want)
{
	is($p->{samples}{$k}, $want{$k}, "primary: $k = $want{$k}");
}
my $age = $p->{samples}{ key('tensafe_dr_newest_verified_backup_age_seconds', %id) };
ok(defined $age && $age >= 3600 && $age < 3700, "newest verified backup about an hour old ($age)");
my $sample_age = $p->{samples}{ key('tensafe_dr_worker_last_sample_age_seconds', %id) };
ok(defined $sample_age && $sample_age >= 0 && $sample_age < 10, "worker sampled recently ($sample_age s ago)");
for my $f (qw(tensafe_dr_rpo_lag_seconds tensafe_dr_replay_lag_seconds))
{
	my $v = $p->{samples}{ key($f, %id) };
	ok(defined $v && $v >= 0 && $v < 60, "$f present and small ($v)");
}
ok(defined $p->{samples}{ key('tensafe_dr_standby_replay_lag_seconds', %id, standby => $hostile_standby) },
	'per-standby replay lag, labelled with the standby name as it is');
is($p->{type}{tensafe_dr_events_total}, 'counter', 'events_total is a counter');
is($p->{type}{tensafe_dr_rpo_lag_seconds}, 'gauge', 'rpo_lag_seconds is a gauge');

# HELP and TYPE of every family come from dr_metric_families.
my %families = map { my ($m, $t, $h) = split /\t/; ($m => [ $t, $h ]) }
  split /\n/, $primary->safe_psql('postgres', 'SELECT metric, metric_type, help FROM dr_metric_families',
	extra_params => [ '-F', "\t" ]);
is(scalar(grep { !$families{$_} || $families{$_}[0] ne $p->{type}{$_} || $families{$_}[1] ne $p->{help}{$_} }
	keys %{ $p->{type} }), 0, 'HELP and TYPE as in dr_metric_families');

# Privileges: dr_monitor (through pg_monitor) reads, others are refused.
my ($ret, $out, $err) = $primary->psql('postgres', 'SET ROLE metrics_nobody; SELECT dr_metrics()');
like($err, qr/permission denied/, 'a role without dr_monitor cannot read the metrics');
($ret, $out, $err) = $primary->psql('postgres', 'SET ROLE metrics_nobody; SELECT * FROM dr_metrics_rows()');
like($err, qr/permission denied/, 'nor the rows');

###############################################################################
# On the standby: read-only catalogs plus its journal.  An event and an
# incident declared here are pending in the journal and counted here only.
###############################################################################
my $lsn = $primary->lsn('insert');
ok(defined wait_until($standby, "SELECT pg_last_wal_replay_lsn() >= '$lsn'", 't', 30), 'standby caught up');
$standby->safe_psql('postgres', q{
	SELECT dr_record_event('STANDBY_NOTE', '{}');
	SELECT dr_declare(3, 'declared on the standby');
});
my $stext = metrics_of($standby, 'metrics_reader');
($rc, $lint) = promtool($stext);
is($rc, 0, 'promtool check metrics: standby output passes') or diag("$lint\n$stext");
is($lint, '', 'promtool has no complaint (standby)');
my $s = parse($stext);
my %sid = (node => 'standby', region => 'us-west');
my %swant = (
	key('tensafe_dr_in_recovery', %sid) => 1,
	key('tensafe_dr_worker_up', %sid) => 1,
	key('tensafe_dr_events_total', %sid, type => 'STANDBY_NOTE') => 1,
	key('tensafe_dr_events_total', %sid, type => 'DR_INITIATED') => 3,
	key('tensafe_dr_events_total', %sid, type => $hostile_type) => 1,
	key('tensafe_dr_breaches_total', %sid, objective => 'rto') => 1,
	key('tensafe_dr_open_incidents', %sid, level => '2') => 1,
	key('tensafe_dr_open_incidents', %sid, level => '3') => 1,
	key('tensafe_dr_notification_failures_total', %sid, channel => 'pager') => 2);
for my $k (sort keys %swant)
{
	is($s->{samples}{$k}, $swant{$k}, "standby: $k = $swant{$k}");
}
ok(defined $s->{samples}{ key('tensafe_dr_rpo_lag_seconds', %sid) }, 'standby reports its rpo_lag');
# the worker may journal RPO_* events of its own
ok(($s->{samples}{ key('tensafe_dr_pending_events', %sid) } // 0) >= 2, 'standby: both journalled events pending');
ok(defined $p->{samples}{ key('tensafe_dr_pending_events', %id) }, 'primary: pending_events reported');
is(scalar(grep { /^tensafe_dr_standby_/ } keys %{ $s->{samples} }), 0, 'no per-standby figures on a standby without standbys');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM dr_events WHERE event_type = 'STANDBY_NOTE'}), '0',
	'the standby\'s journalled event is not on the primary');

###############################################################################
# The real exporter, as a role with pg_monitor only, on a free local port.
###############################################################################
my $http_port = PostgreSQL::Test::Cluster::get_free_port();
my $exporter_log = PostgreSQL::Test::Utils::tempdir() . '/exporter.log';
{
	local $ENV{DATA_SOURCE_NAME} = sprintf('host=%s port=%d user=metrics_reader dbname=postgres sslmode=disable',
		$primary->host, $primary->port);
	$exporter_pid = fork();
	die "fork: $!" unless defined $exporter_pid;
	if ($exporter_pid == 0)
	{
		open STDOUT, '>', $exporter_log or die;
		open STDERR, '>&', \*STDOUT or die;
		exec $exporter_bin, "--web.listen-address=127.0.0.1:$http_port", "--extend.query-path=$queries";
		die "exec: $!";
	}
}

my $http = HTTP::Tiny->new(timeout => 10);
# scrape() -> the tensafe_dr_ lines of the exporter's /metrics, or undef
sub scrape
{
	my $r = $http->get("http://127.0.0.1:$http_port/metrics");
	return undef unless $r->{success};
	return join '', map { "$_\n" } grep { /^(# (HELP|TYPE) )?tensafe_dr_/ } split /\n/, $r->{content};
}
my $scraped;
my $deadline = time + 30;
while (time < $deadline)
{
	$scraped = scrape();
	last if defined $scraped && $scraped =~ /^tensafe_dr_events_total/m;
	usleep(200_000);
}
ok(defined $scraped && $scraped =~ /^tensafe_dr_/m, 'exporter serves tensafe_dr metrics')
  or diag(slurp_file($exporter_log));
my $full = $http->get("http://127.0.0.1:$http_port/metrics")->{content} // '';
like($full, qr/^pg_up 1$/m, 'exporter connected (pg_up 1)');
unlike(slurp_file($exporter_log), qr/tensafe_dr\S* .*(error|Error)|Error running query/,
	'no query error in the exporter log') or diag(slurp_file($exporter_log));

($rc, $lint) = promtool($scraped);
is($rc, 0, 'promtool check metrics: the exporter\'s tensafe_dr families pass') or diag("$lint\n$scraped");
my $e = parse($scraped);
note("the exporter's tensafe_dr lines:\n$scraped");

# Same families, types and HELP as dr_metrics() on the same node.
is_deeply([ sort keys %{ $e->{type} } ], [ sort keys %{ $p->{type} } ], 'exporter serves the same families');
is(scalar(grep { ($e->{type}{$_} // '') ne $p->{type}{$_} } keys %{ $p->{type} }), 0, 'with the same types');
is(scalar(grep { ($e->{help}{$_} // '') ne $p->{help}{$_} } keys %{ $p->{type} }), 0, 'and the same HELP')
  or diag(join "\n", map { "$_: '$e->{help}{$_}' vs '$p->{help}{$_}'" } grep { ($e->{help}{$_} // '') ne $p->{help}{$_} } keys %{ $p->{type} });
like($full, qr/^tensafe_dr_in_recovery\{node="primary",region="us-east",server="[^"]+"\} 0$/m,
	'exporter adds its server label');

# Same samples, labels (hostile ones included) and values -- the figures
# that do not move with the clock compared exactly, taken until a scrape and
# a dr_metrics() call fall between the same events (the worker records
# RPO_* events on its own).
my $moving = qr/_seconds\{|_lag_bytes\{/;
my $diff;
for my $try (1 .. 10)
{
	my $d = parse(metrics_of($primary));
	my $x = parse(scrape() // '');
	my @keys = sort(keys %{ $d->{samples} });
	my @xkeys = sort(keys %{ $x->{samples} });
	$diff = join("\n",
		(map { "only in dr_metrics(): $_" } grep { !exists $x->{samples}{$_} } @keys),
		(map { "only in the exporter: $_" } grep { !exists $d->{samples}{$_} } @xkeys),
		(map { "value differs: $_ $d->{samples}{$_} vs $x->{samples}{$_}" }
		  grep { exists $x->{samples}{$_} && !/$moving/ && $d->{samples}{$_} != $x->{samples}{$_} } @keys));
	last if $diff eq '';
	usleep(300_000);
}
is($diff, '', 'exporter and dr_metrics() agree on every sample');
my $x = parse(scrape() // '');
is($x->{samples}{ key('tensafe_dr_events_total', %id, type => $hostile_type) }, 1,
	'the hostile event type round-trips through the exporter');
ok(defined $x->{samples}{ key('tensafe_dr_standby_rpo_lag_seconds', %id, standby => $hostile_standby) },
	'so does the hostile standby name');
my $xage = $x->{samples}{ key('tensafe_dr_newest_verified_backup_age_seconds', %id) };
ok(defined $xage && $xage >= 3600 && $xage < 3700, "exporter: newest verified backup age ($xage)");

my $pid = $exporter_pid;
stop_exporter();
ok(!kill(0, $pid), "exporter (pid $pid) stopped");

$standby->stop;
$primary->stop;
done_testing();
