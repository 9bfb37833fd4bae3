/*
 * clockshift.c -- LD_PRELOAD shim for 027_clock_skew: shift this process's
 * wall clock (CLOCK_REALTIME, gettimeofday, time) by DR_CLOCK_SHIFT_S
 * seconds (may be negative); monotonic clocks and sleeps are left alone.
 *
 * Why not libfaketime (Debian's faketime): it intercepts select() and marks
 * time as real while inside it, so a PostgreSQL 15 postmaster that forks a
 * child from its SIGUSR1 handler while in select() -- the WAL receiver, the
 * background workers -- gives that child the real clock for good, while
 * backends forked from the main loop get the fake one: two clocks in one
 * node, which no real host has.  This shim has no such state.
 *
 * The offset is read once, in the constructor: PostgreSQL later overwrites
 * the original environment strings with the process title.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long shift_us;
static int	(*real_clock_gettime) (clockid_t, struct timespec *);
static int	(*real_gettimeofday) (struct timeval *, void *);

__attribute__((constructor))
static void
clockshift_init(void)
{
	const char *s = getenv("DR_CLOCK_SHIFT_S");

	shift_us = s ? (long long) (atof(s) * 1000000.0) : 0;
	real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
	real_gettimeofday = dlsym(RTLD_NEXT, "gettimeofday");
}

static void
shift_ts(struct timespec *ts)
{
	long long	ns = (long long) ts->tv_sec * 1000000000LL + ts->tv_nsec + shift_us * 1000LL;

	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
}

int
clock_gettime(clockid_t clk, struct timespec *ts)
{
	int			r = real_clock_gettime(clk, ts);

	if (r == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
		shift_ts(ts);
	return r;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	int			r = real_gettimeofday(tv, tz);

	if (r == 0 && tv)
	{
		long long	us = (long long) tv->tv_sec * 1000000LL + tv->tv_usec + shift_us;

		tv->tv_sec = us / 1000000LL;
		tv->tv_usec = us % 1000000LL;
	}
	return r;
}

time_t
time(time_t *t)
{
	struct timespec ts;
	time_t		r;

	clock_gettime(CLOCK_REALTIME, &ts);
	r = ts.tv_sec;
	if (t)
		*t = r;
	return r;
}
