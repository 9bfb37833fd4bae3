# Webhook notifications against a real HTTP receiver on 127.0.0.1: body,
# signature and idempotency key; retries after a 500; a receiver that is
# down for a while; a receiver that hangs (timeout, while lag sampling and
# user commits go on); delivery from a standby whose primary is gone, not
# repeated after its promotion; incident updates and escalation.
use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use IO::Socket::INET;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $secret = 'a-long-test-secret-0123456789';
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = PostgreSQL::Test::Utils::tempdir() . '/received.jsonl';
my $receiver_pid;

sub start_receiver
{
	$receiver_pid = fork();
	if ($receiver_pid == 0)
	{
		exec 'python3', "$ENV{TESTDIR}/test/webhook_receiver.py", $port, $log;
	}
	# up when it accepts a connection
	my $deadline = time + 10;
	while (time < $deadline)
	{
		return if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
		usleep(50_000);
	}
	die 'receiver did not start';
}

sub stop_receiver
{
	return unless $receiver_pid;
	kill 'KILL', $receiver_pid;
	waitpid($receiver_pid, 0);
	$receiver_pid = undef;
}
END { local $?; stop_receiver(); }

sub received
{
	my @r;
	open my $fh, '<', $log or return ();
	while (my $line = <$fh>) { push @r, decode_json($line) }
	close $fh;
	return @r;
}

sub received_for
{
	my ($event_type) = @_;
	return grep { ($_->{headers}{'x-tensafe-event'} // '') eq $event_type } received();
}

# wait_received(event_type, count, timeout[, status[, path]]): the requests
# for that event (answered with status, on that path), once there are count
sub wait_received
{
	my ($event_type, $count, $timeout, $status, $path) = @_;
	my $match = sub {
		grep { (!defined $status || $_->{status} == $status) && (!defined $path || $_->{path} eq $path) }
		  received_for($event_type);
	};
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		my @r = $match->();
		return @r if @r >= $count;
		usleep(100_000);
	}
	return $match->();
}

my $conf = <<'CONF';
tensafe_dr.webhook_backoff_base = '200ms'
tensafe_dr.webhook_backoff_max = '1s'
tensafe_dr.webhook_timeout = '1s'
tensafe_dr.webhook_connect_timeout = '500ms'
CONF
my $primary = new_primary('primary', $conf);
my $standby = new_standby($primary, 'standby', $conf);
start_receiver();

$primary->safe_psql('postgres', qq{
	SELECT dr_webhook_add('ok', 'http://127.0.0.1:$port/ok', '$secret');
	SELECT dr_webhook_add('flaky', 'http://127.0.0.1:$port/flaky', '$secret', ARRAY['FLAKY_TEST']);
	SELECT dr_webhook_add('hang', 'http://127.0.0.1:$port/hang', '$secret', ARRAY['HANG_TEST']);
	SELECT dr_webhook_add('esc', 'http://user:pw\@127.0.0.1:$port/ok', '$secret', ARRAY['NOTHING_BY_TYPE']);
});

###############################################################################
# Body, signature, idempotency key.
###############################################################################
my $incident = $primary->safe_psql('postgres', q{SELECT dr_declare(3, 'checkout API down in us-east-1')});
my ($got) = wait_received('DR_INITIATED', 1, 20, 200, '/ok');
ok($got, 'DR_INITIATED delivered to the receiver');
my $body = decode_json($got->{body});
is($got->{headers}{'x-tensafe-signature'}, 'sha256=' . hmac_sha256_hex($got->{body}, $secret),
	'HMAC-SHA256 signature of the body with the channel secret');
is($got->{headers}{'idempotency-key'}, $body->{idempotency_key}, 'Idempotency-Key header matches the body');
is($got->{headers}{'content-type'}, 'application/json', 'JSON body');
is($body->{subject}, '[INCIDENT] TenSafe Service Disruption - Investigation in Progress', 'runbook 5.1 subject');
like($body->{text}, qr/Status: Investigating\nImpact: checkout API down in us-east-1\nStart Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/,
	'runbook 5.1 text with placeholders filled');
is($body->{incident}{id}, $incident, 'incident in the body');
is($body->{event}{type}, 'DR_INITIATED', 'event in the body');
ok(defined wait_until($primary,
	"SELECT status || ':' || attempts FROM dr_notifications WHERE event_type = 'DR_INITIATED' AND channel = 'ok'",
	'delivered:1', 10), 'outbox shows it delivered after one attempt');

###############################################################################
# 500 then 200: retried, delivered once.
###############################################################################
$primary->safe_psql('postgres', q{SELECT dr_record_event('FLAKY_TEST', '{}')});
my @flaky = wait_received('FLAKY_TEST', 1, 20, 200, '/flaky');
my @flaky_all = grep { $_->{path} eq '/flaky' } received_for('FLAKY_TEST');
is(scalar(@flaky), 1, 'flaky endpoint: delivered (200) exactly once');
is(scalar(@flaky_all), 2, 'after one 500');
is($flaky_all[0]{headers}{'idempotency-key'}, $flaky_all[1]{headers}{'idempotency-key'},
	'same Idempotency-Key on the retry');
ok(defined wait_until($primary,
	"SELECT status || ':' || attempts FROM dr_notifications WHERE channel = 'flaky'", 'delivered:2', 10),
	'outbox: delivered after 2 attempts');

###############################################################################
# Receiver down for a while: everything delivered after it returns, once.
###############################################################################
stop_receiver();
$primary->safe_psql('postgres', qq{SELECT dr_record_event('DOWN_TEST', jsonb_build_object('n', g)) FROM generate_series(1, 3) g});
ok(defined wait_until($primary,
	"SELECT count(*) FROM dr_notifications WHERE event_type = 'DOWN_TEST' AND status = 'pending' AND attempts >= 1 AND last_error IS NOT NULL",
	'3', 20), 'while down: pending, attempts and the error recorded');
like($primary->safe_psql('postgres', "SELECT last_error FROM dr_notifications WHERE event_type = 'DOWN_TEST' LIMIT 1"),
	qr/connect|refused/i, 'the error says why');
start_receiver();
my @down = wait_received('DOWN_TEST', 3, 30, 200, '/ok');
is(scalar(@down), 3, 'all three delivered after the receiver returned');
my %keys = map { $_->{headers}{'idempotency-key'} => 1 } @down;
is(scalar(keys %keys), 3, 'three distinct keys, none duplicated');
ok(defined wait_until($primary,
	"SELECT count(*) FROM dr_notifications WHERE event_type = 'DOWN_TEST' AND status = 'delivered'", '3', 10),
	'outbox: all three delivered');

###############################################################################
# A receiver that hangs past the timeout: a recorded timeout; lag samples
# keep their pace and user commits are unaffected.
###############################################################################
$primary->safe_psql('postgres', 'CREATE TABLE commits (x int)');
my $samples_before = $primary->safe_psql('postgres', "SELECT count(*) FROM dr_samples(8192)");
$primary->safe_psql('postgres', q{SELECT dr_record_event('HANG_TEST', '{}')});
ok(defined wait_until($primary,
	"SELECT last_error LIKE 'timeout%' FROM dr_notifications WHERE event_type = 'HANG_TEST' AND channel = 'hang'",
	't', 20), 'hung receiver: the attempt is recorded as a timeout');
my $t0 = time;
$primary->safe_psql('postgres', 'INSERT INTO commits VALUES (1)') for 1 .. 20;
my $commit_s = time - $t0;
cmp_ok($commit_s, '<', 5, sprintf('20 commits took %.2f s while the notifier waits on a hung endpoint', $commit_s));
ok(defined wait_until($primary,
	"SELECT count(*) - $samples_before >= 3 FROM dr_samples(8192)", 't', 10),
	'the worker kept sampling while the notifier was stuck');

###############################################################################
# dr_webhook_test reports the HTTP result.
###############################################################################
is($primary->safe_psql('postgres', q{CALL dr_webhook_test('ok')}), 'delivered|200|',
	'dr_webhook_test: delivered, HTTP 200');
like($primary->safe_psql('postgres', q{CALL dr_webhook_test('hang', '10 s')}), qr/^pending\|\|timeout/,
	'dr_webhook_test on a hung endpoint reports the timeout');

###############################################################################
# Updates and escalation, on a shortened interval.
###############################################################################
$primary->safe_psql('postgres', q{
	UPDATE dr_escalation_policy SET response_time = '1 s', channel = NULL WHERE level = 1;
	UPDATE dr_escalation_policy SET response_time = '1 hour', channel = 'esc' WHERE level = 2;
	ALTER SYSTEM SET tensafe_dr.incident_update_interval = '2s';
	SELECT pg_reload_conf();});
my @esc = wait_received('ESCALATED', 1, 30, 200);
ok(@esc >= 1, 'unacknowledged incident escalated');
my $esc_body = decode_json($esc[0]{body});
is($esc_body->{channel}, 'esc', 'escalation went to the level-2 channel');
like($esc_body->{subject}, qr/^\[ESCALATION L2\] Unacknowledged incident: checkout API down/, 'escalation subject');
is($primary->safe_psql('postgres',
	"SELECT count(*) FROM dr_events WHERE event_type = 'ESCALATED' AND incident_id = $incident AND (details->>'to_level')::int = 2"),
	'1', 'escalation recorded once as an event');
my @upd = wait_received('INCIDENT_UPDATE', 2, 30, 200);
cmp_ok(scalar(@upd), '>=', 2, 'incident updates every 2 s while open');
like(decode_json($upd[0]{body})->{subject}, qr/^\[UPDATE\]/, 'update template');
$primary->safe_psql('postgres', "SELECT dr_acknowledge($incident, 'oncall')");
$primary->safe_psql('postgres', "SELECT * FROM dr_resolve($incident)");
my ($done) = wait_received('DR_COMPLETE', 1, 20, 200);
like(decode_json($done->{body})->{text}, qr/Status: Operational\nResolution Time: .* UTC\nDuration: /,
	'runbook 5.3 recovery notice');

###############################################################################
# A standby whose primary is stopped still delivers its events, and does
# not deliver them again once promoted.
###############################################################################
$primary->safe_psql('postgres', 'SELECT 1');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('flush'));
$primary->stop('immediate');
is($standby->safe_psql('postgres', q{SELECT dr_record_event('STANDBY_ALERT', '{"from": "dr side"}') IS NULL}), 't',
	'event journalled on the standby');
my @sb = wait_received('STANDBY_ALERT', 1, 30, 200);
is(scalar(@sb), 1, 'the standby delivered it with its primary down');
my $sb_key = $sb[0]{headers}{'idempotency-key'};
like($sb_key, qr/^tdr-\d+-[0-9a-f]{16}-\d+-ok$/, "keyed by journal origin: $sb_key");
$standby->safe_psql('postgres', 'SELECT pg_promote()');
ok(defined wait_until($standby,
	"SELECT status FROM dr_notifications WHERE idempotency_key = '$sb_key'", 'delivered', 30),
	'after promotion the flushed event is marked delivered in the outbox');
# let the promoted notifier run a few passes, then check nothing was resent
$standby->safe_psql('postgres', q{SELECT dr_record_event('AFTER_PROMOTION', '{}')});
wait_received('AFTER_PROMOTION', 1, 20, 200);
is(scalar(grep { $_->{headers}{'idempotency-key'} eq $sb_key } received()), 1,
	'and the receiver got it exactly once');

$standby->stop;
done_testing();
