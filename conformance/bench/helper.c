/*
 * helper.c - the small driver `run` and `profile` use to time and measure OCI
 * runtimes.
 *
 * It is a C program (compiled by the scripts into their temp dir) so that the
 * cost of the driver itself is one fork+exec per sample and nothing more; a
 * shell or Python driver would add milliseconds of its own to every sample.
 *
 * The helper makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), like the
 * containerd shim does: a container whose runtime process has exited is
 * re-parented to the helper, so "wait for the container to exit" is a real
 * waitpid() on the container's init, not a poll of `state`.
 *
 * Modes (RT is an absolute path to the runtime binary, ROOT its state dir):
 *   lifecycle RT ROOT BUNDLE ID   create --pid-file; start; wait for init; delete
 *   run       RT ROOT BUNDLE ID   RT run --bundle BUNDLE ID in the foreground,
 *                                 then reap everything left (and delete the
 *                                 container if the runtime left it)
 *   exec      RT ROOT - ID        RT exec ID /bin/true
 *   mem-create RT ROOT BUNDLE ID  like lifecycle; prints
 *                                 "CREATE_PEAK_KB INIT_HWM_KB INIT_RSS_KB"
 *                                 (see README.md, "Memory")
 *   mem-run   RT ROOT BUNDLE ID   like run; prints "RUN_PEAK_KB"
 *   phases    RT ROOT BUNDLE ID   like lifecycle; prints the wall time of each
 *                                 step in microseconds: "CREATE START WAIT DELETE"
 *   reap CMD [ARG...]             run CMD as a subreaper and reap all orphans;
 *                                 once CMD has exited, orphans still alive after
 *                                 10 s are killed; exits with CMD's status
 *
 * Every mode but reap gives up after $BENCH_TIMEOUT seconds (default 30): the
 * runtime process being waited for is killed. On any failure the helper runs
 * `RT delete --force ID` (so the next sample can reuse the id), appends
 * "ID MODE STEP STATUS" to the file $BENCH_FAILLOG if set, and exits 1 (124
 * after a time-out).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *mode, *rt, *root, *bundle, *id;
static char pidfile[4096];
static volatile sig_atomic_t timed_out;
static volatile pid_t current; /* the process a time-out kills */

static void die(const char *msg)
{
	fprintf(stderr, "bench-helper: %s\n", msg);
	exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (current > 0)
		kill(current, SIGKILL);
}

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static pid_t spawn(char *const argv[])
{
	pid_t p = fork();
	if (p < 0)
		die("fork failed");
	if (p == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "bench-helper: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return p;
}

/* Wait for PID; orphans that exit meanwhile are reaped too. -1: not ours. */
static int wait_for(pid_t pid)
{
	int st;
	current = pid;
	for (;;) {
		pid_t r = waitpid(-1, &st, 0);
		if (r == pid) {
			current = 0;
			return st;
		}
		if (r < 0 && errno != EINTR) {
			current = 0;
			return -1;
		}
	}
}

static void reap_finished(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
}

/* Kill every live child of ours (orphans re-parented to us included). */
static void kill_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[64], buf[512];
	pid_t self = getpid();
	if (!d)
		return;
	while ((e = readdir(d))) {
		int pid = atoi(e->d_name), ppid;
		if (pid <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		char *p = strrchr(buf, ')'); /* after the comm field */
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == self)
			kill(pid, SIGKILL);
	}
	closedir(d);
}

/* Reap until no child is left; after GRACE_US, kill what still lives. */
static void reap_all(long grace_us)
{
	long t0 = now_us();
	int killed = 0;
	for (;;) {
		pid_t r = waitpid(-1, NULL, WNOHANG);
		if (r > 0)
			continue;
		if (r < 0 && errno == ECHILD)
			return;
		if (r < 0 && errno != EINTR)
			return;
		if (!killed && (timed_out || (grace_us >= 0 && now_us() - t0 > grace_us))) {
			kill_children();
			killed = 1;
		}
		usleep(1000);
	}
}

static void fail(const char *step, int status)
{
	char *del[] = {(char *)rt, "--root", (char *)root, "delete", "--force", (char *)id, NULL};
	const char *log = getenv("BENCH_FAILLOG");
	int was_timeout = timed_out;

	fprintf(stderr, "bench-helper: %s %s: %s failed (%s %d)\n", rt, id, step,
		was_timeout ? "timed out, status" : "status", status);
	if (log && *log) {
		FILE *f = fopen(log, "ae");
		if (f) {
			fprintf(f, "%s %s %s %s\n", id, mode, step, was_timeout ? "timeout" : "error");
			fclose(f);
		}
	}
	timed_out = 0;
	if (strcmp(mode, "exec")) { /* never delete the container exec ran in */
		alarm(10);
		wait_for(spawn(del));
		alarm(0);
	}
	kill_children();
	reap_all(-1);
	exit(was_timeout ? 124 : 1);
}

/* Run a runtime command to completion; fail unless it exits 0. */
static void rt_call(char *const argv[], const char *step)
{
	int st = wait_for(spawn(argv));
	if (timed_out || st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail(step, st);
}

static long maxrss_children_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return ru.ru_maxrss;
}

static pid_t read_pidfile(void)
{
	char buf[32] = {0};
	int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("create (no pid file)", 0);
	if (read(fd, buf, sizeof buf - 1) <= 0)
		fail("create (empty pid file)", 0);
	close(fd);
	unlink(pidfile);
	return (pid_t)atol(buf);
}

/* VmHWM / VmRSS (kB) of a live process, from /proc/PID/status. */
static void proc_rss(pid_t pid, long *hwm, long *rss)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	*hwm = *rss = -1;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "VmHWM:", 6))
			*hwm = atol(line + 6);
		else if (!strncmp(line, "VmRSS:", 6))
			*rss = atol(line + 6);
	}
	fclose(f);
}

/* The container's init is ours (we are its subreaper) once the runtime
 * processes above it have exited; if it is not yet, poll until it is gone. */
static void wait_init(pid_t init)
{
	int st;
	current = init;
	for (;;) {
		pid_t r = waitpid(init, &st, 0);
		if (r == init)
			break;
		if (timed_out)
			fail("wait for the container to exit", -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (kill(init, 0) < 0 && errno == ESRCH)
			break;
		usleep(200);
	}
	current = 0;
}

/* measure: 0 = nothing, 1 = memory, 2 = phase times */
static void lifecycle(int measure)
{
	char *create[] = {(char *)rt, "--root", (char *)root, "create", "--bundle", (char *)bundle,
			  "--pid-file", pidfile, (char *)id, NULL};
	char *start[] = {(char *)rt, "--root", (char *)root, "start", (char *)id, NULL};
	char *del[] = {(char *)rt, "--root", (char *)root, "delete", (char *)id, NULL};
	long peak = 0, hwm = 0, rss = 0, t0, d[4];

	t0 = now_us();
	rt_call(create, "create");
	d[0] = now_us() - t0;
	pid_t init = read_pidfile();
	if (measure == 1) {
		reap_finished(); /* intermediate processes orphaned to us */
		peak = maxrss_children_kb();
		proc_rss(init, &hwm, &rss);
	}
	t0 = now_us();
	rt_call(start, "start");
	d[1] = now_us() - t0;
	t0 = now_us();
	wait_init(init);
	d[2] = now_us() - t0;
	t0 = now_us();
	rt_call(del, "delete");
	d[3] = now_us() - t0;
	reap_all(-1);
	if (timed_out)
		fail("wait for what delete left", -1);
	if (measure == 1)
		printf("%ld %ld %ld\n", peak > hwm ? peak : hwm, hwm, rss);
	if (measure == 2)
		printf("%ld %ld %ld %ld\n", d[0], d[1], d[2], d[3]);
}

static void run(int measure)
{
	char *runv[] = {(char *)rt, "--root", (char *)root, "run", "--bundle", (char *)bundle,
			(char *)id, NULL};
	char *del[] = {(char *)rt, "--root", (char *)root, "delete", "--force", (char *)id, NULL};
	char state[4096];
	struct stat sb;

	rt_call(runv, "run");
	reap_all(-1);
	if (timed_out)
		fail("wait for what run left", -1);
	if (measure)
		printf("%ld\n", maxrss_children_kb());
	/* `run` deletes the container after it exits; if a runtime left it, the
	 * user has to delete it, so that is part of the cost. */
	snprintf(state, sizeof state, "%s/%s", root, id);
	if (stat(state, &sb) == 0) {
		rt_call(del, "delete after run");
		reap_all(-1);
	}
}

static void exec_true(void)
{
	char *ex[] = {(char *)rt, "--root", (char *)root, "exec", (char *)id, "/bin/true", NULL};
	rt_call(ex, "exec");
	reap_all(-1);
	if (timed_out)
		fail("wait for what exec left", -1);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: waits see EINTR */

	if (argc < 3)
		die("usage: helper MODE ARGS... (see helper.c)");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("PR_SET_CHILD_SUBREAPER failed");
	mode = argv[1];

	if (!strcmp(mode, "reap")) {
		signal(SIGINT, SIG_IGN); /* keep reaping while the script cleans up */
		signal(SIGTERM, SIG_IGN);
		pid_t child = fork();
		if (child < 0)
			die("fork failed");
		if (child == 0) {
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		int st = wait_for(child);
		reap_all(10 * 1000000L);
		if (WIFEXITED(st))
			return WEXITSTATUS(st);
		return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}

	if (argc != 6)
		die("usage: helper MODE RUNTIME ROOT BUNDLE ID");
	rt = argv[2];
	root = argv[3];
	bundle = argv[4];
	id = argv[5];
	snprintf(pidfile, sizeof pidfile, "%s.%s.pid", root, id); /* beside ROOT */
	sigaction(SIGALRM, &sa, NULL);
	const char *t = getenv("BENCH_TIMEOUT");
	alarm(t && atoi(t) > 0 ? (unsigned)atoi(t) : 30);

	if (!strcmp(mode, "lifecycle"))
		lifecycle(0);
	else if (!strcmp(mode, "mem-create"))
		lifecycle(1);
	else if (!strcmp(mode, "phases"))
		lifecycle(2);
	else if (!strcmp(mode, "run"))
		run(0);
	else if (!strcmp(mode, "mem-run"))
		run(1);
	else if (!strcmp(mode, "exec"))
		exec_true();
	else
		die("unknown mode");
	return 0;
}
