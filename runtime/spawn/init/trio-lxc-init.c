/*
 * trio-lxc-init: pid 1 of an application container (lxc-execute).
 *
 * Why this program exists. pid 1 of an application container used to be the
 * container child itself, a fork of the spawner: a Python process that maps the
 * host's python binary and libpython. Container root could open those host files
 * through /proc/1/map_files/ and /proc/1/exe and write to them, and it could
 * write through every fd pid 1 held (/proc/1/fd/N). So pid 1 now execs this
 * program, statically linked (no ld.so, no shared library of the host), from a
 * memfd that the container child filled and sealed (F_SEAL_WRITE, SHRINK, GROW,
 * SEAL and, where the kernel has it, EXEC): after that exec pid 1 maps only that
 * memfd, its own anonymous memory and the vDSO, and holds no fd but the
 * caller's stdio (every other fd of the child is close-on-exec).
 *
 * Invocation (runtime/spawn/child.py): argv = { "init", APP_PID }, an empty
 * environment, the signals below already blocked, and (without a pid namespace
 * of its own) already a child subreaper. APP_PID is the application, forked just
 * before the exec and waiting until the exec has closed a pipe. The argument
 * area is then rewritten so that /proc/1/cmdline reads exactly "init\0" and
 * comm is "init", as LXC's lxc-init shows in `ps`.
 *
 * What it does (the rules of LXC's lxc-init, with fewer lost signals):
 * - SIGCHLD: reap everything that exited; the application's wait status is kept.
 * - INT, TERM, HUP, QUIT, USR1, USR2, PWR, WINCH, CONT, ALRM: forwarded to the
 *   application while it runs, every one: they stay blocked and are taken with
 *   sigwaitinfo(), so the kernel queues them between two waits (lxc-init keeps
 *   one pending signal and loses the rest). They were blocked before the
 *   application was forked and a blocked mask survives execve(), so none sent
 *   while the container child was still getting here is lost either.
 * - SIGTERM or SIGPWR once the application has exited while other processes
 *   remain: SIGTERM to all of them, SIGKILL one second later.
 * - When the application has exited and no child remains: exit with its exit
 *   code, or 128+N if signal N killed it. That exit status is the only channel
 *   back to the daemon (there is no status fd: any fd of the host in pid 1 is
 *   one container root can write to), so an application that exits 128+N by
 *   itself reads the same as one killed by signal N, as in a shell.
 *
 * With a pid namespace of its own (getpid() == 1) "everything" is every other
 * process of the namespace, kill(-1). Without one (lxc.namespace.keep = pid, or
 * a shared pid namespace) this is a child subreaper and "everything" is its
 * descendants, found in /proc: kill(-1) would reach the host.
 *
 * Exit codes of its own: 255 when the arguments are wrong or the application
 * is not its child (a message goes to stderr, the caller's).
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TITLE "init"
#define KILL_GRACE_NS 1000000000LL

/* Signals forwarded to the application while it runs. */
static const int forwarded[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
	SIGUSR2, SIGPWR, SIGWINCH, SIGCONT, SIGALRM,
};

static void complain(const char *message)
{
	/* The caller's stderr; nothing else is open. Best effort. */
	ssize_t ignored = write(2, message, strlen(message));
	(void)ignored;
}

/*
 * comm and cmdline become "init". The argument strings are contiguous in the
 * area the kernel reports as arg_start..arg_end; the pid after "init" is wiped.
 * PR_SET_MM_ARG_END shrinks the area (needs CAP_SYS_RESOURCE); without it a
 * non-NUL last byte makes the kernel read the area as a setproctitle() title,
 * shown up to its first NUL: "init\0" either way.
 */
static void set_title(int argc, char **argv)
{
	char *start = argv[0];
	char *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	size_t size = (size_t)(end - start);
	size_t title = sizeof(TITLE); /* with its NUL */

	prctl(PR_SET_NAME, (unsigned long)TITLE, 0, 0, 0);
	if (size < title)
		return;
	memset(start, 0, size);
	memcpy(start, TITLE, title);
	if (size == title)
		return;
	if (prctl(PR_SET_MM, PR_SET_MM_ARG_END, (unsigned long)(start + title), 0, 0) != 0)
		end[-1] = '.';
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* pid and parent of one process, from /proc/PID/stat (field 4, after the comm). */
static int read_ppid(const char *pid, pid_t *ppid)
{
	char path[64], buf[512], *paren;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return -1;
	buf[got] = '\0';
	paren = strrchr(buf, ')');
	if (paren == NULL || paren[1] == '\0' || paren[2] == '\0')
		return -1;
	/* ") S PPID ..." */
	if (sscanf(paren + 2, "%*c %d", ppid) != 1)
		return -1;
	return 0;
}

struct proc_entry {
	pid_t pid;
	pid_t ppid;
};

/* Signal every descendant of ours (no pid namespace of our own). */
static void kill_descendants(int sig)
{
	struct proc_entry *table = NULL;
	size_t count = 0, capacity = 0;
	pid_t *todo = NULL;
	size_t pending = 0;
	struct dirent *entry;
	DIR *proc = opendir("/proc");

	if (proc == NULL)
		return;
	while ((entry = readdir(proc)) != NULL) {
		pid_t ppid;

		if (!isdigit((unsigned char)entry->d_name[0]))
			continue;
		if (read_ppid(entry->d_name, &ppid) != 0)
			continue;
		if (count == capacity) {
			size_t grown = capacity ? capacity * 2 : 256;
			struct proc_entry *bigger = realloc(table, grown * sizeof(*table));

			if (bigger == NULL)
				break;
			table = bigger;
			capacity = grown;
		}
		table[count].pid = (pid_t)atoi(entry->d_name);
		table[count].ppid = ppid;
		count++;
	}
	closedir(proc);
	/* Every entry is pushed at most once (a pid has one parent): count + 1 slots. */
	todo = malloc((count + 1) * sizeof(*todo));
	if (todo != NULL) {
		todo[pending++] = getpid();
		while (pending > 0) {
			pid_t parent = todo[--pending];

			for (size_t i = 0; i < count; i++) {
				if (table[i].ppid != parent || table[i].pid == parent)
					continue;
				kill(table[i].pid, sig);
				todo[pending++] = table[i].pid;
			}
		}
	}
	free(todo);
	free(table);
}

static void kill_all(int sig, int own_pid_ns)
{
	if (own_pid_ns)
		kill(-1, sig); /* every process of the namespace but ourselves */
	else
		kill_descendants(sig);
}

/* Reap every exited child; returns 1 when no child is left. */
static int reap(pid_t app, int *app_status, int *app_done)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			return 1; /* ECHILD */
		}
		if (pid == 0)
			return 0;
		if (pid == app) {
			*app_status = status;
			*app_done = 1;
		}
	}
}

static int exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	sigset_t waited;
	long long kill_at = 0;
	int app_status = 0, app_done = 0;
	int own_pid_ns = getpid() == 1;
	char *tail;
	long app;

	if (argc != 2) {
		complain("trio-lxc-init: usage: init APP_PID\n");
		return 255;
	}
	errno = 0;
	app = strtol(argv[1], &tail, 10);
	if (errno != 0 || *tail != '\0' || app <= 0 || app > 0x3fffffff) {
		complain("trio-lxc-init: APP_PID must be a process id\n");
		return 255;
	}
	set_title(argc, argv);

	sigemptyset(&waited);
	sigaddset(&waited, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&waited, forwarded[i]);
	sigprocmask(SIG_BLOCK, &waited, NULL);
	/* An ignored SIGCHLD would make the kernel reap for us and lose the status. */
	signal(SIGCHLD, SIG_DFL);
	if (!own_pid_ns)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	/* The application may have exited before we got here: look once first. */
	if (reap((pid_t)app, &app_status, &app_done)) {
		if (app_done)
			return exit_code(app_status);
		complain("trio-lxc-init: the application is not a child of init\n");
		return 255;
	}
	for (;;) {
		siginfo_t info;
		int signo;

		if (kill_at == 0) {
			signo = sigwaitinfo(&waited, &info);
		} else {
			long long remaining = kill_at - now_ns();
			struct timespec timeout;

			if (remaining <= 0) {
				kill_all(SIGKILL, own_pid_ns);
				kill_at = 0;
				continue;
			}
			timeout.tv_sec = (time_t)(remaining / 1000000000LL);
			timeout.tv_nsec = (long)(remaining % 1000000000LL);
			signo = sigtimedwait(&waited, &info, &timeout);
		}
		if (signo < 0)
			continue; /* EINTR, or the grace period ran out (checked above) */
		if (signo == SIGCHLD) {
			int none_left = reap((pid_t)app, &app_status, &app_done);

			if (none_left && app_done)
				break;
			if (none_left) {
				complain("trio-lxc-init: the application is not a child of init\n");
				return 255;
			}
		} else if (!app_done) {
			kill((pid_t)app, signo);
		} else if ((signo == SIGTERM || signo == SIGPWR) && kill_at == 0) {
			kill_all(SIGTERM, own_pid_ns);
			kill_at = now_ns() + KILL_GRACE_NS;
		}
	}
	return exit_code(app_status);
}
