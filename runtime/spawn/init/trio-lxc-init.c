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
 * Invocation (runtime/spawn/child.py): argv = { "init", "--run", NAME, SYNC_FD,
 * ARGC, the application's ARGC arguments, then its environment ("K=V" each) },
 * an empty environment, the signals below already blocked, and (without a pid
 * namespace of its own) already a child subreaper. This program forks the
 * application itself (`start_application`): a fork of this small static
 * process, where a fork of the Python child cost a copy of its page tables, its
 * written pages and its teardown. SYNC_FD is the daemon's sync socket: the
 * application holds it (close-on-exec) until its exec, so its EOF means
 * "started"; this program closes its own copy before the application may
 * exec. The older form { "init", APP_PID } (the application forked by the
 * caller and waiting for this exec) is still understood. The argument area is
 * then rewritten so that /proc/1/cmdline reads exactly "init\0" and comm is
 * "init", as LXC's lxc-init shows in `ps`.
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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TITLE "init"
#define KILL_GRACE_NS 1000000000LL
/* The PATH an application is searched in when its environment has none
 * (runtime.spawn.process.DEFAULT_PATH). */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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

/* A copy of strings[0..count-1] with a NULL after them (the originals are wiped). */
static char **copy_strings(char **strings, int count)
{
	char **copy = calloc((size_t)count + 1, sizeof(*copy));

	if (copy == NULL)
		return NULL;
	for (int i = 0; i < count; i++) {
		copy[i] = strdup(strings[i]);
		if (copy[i] == NULL)
			return NULL;
	}
	return copy;
}

/*
 * The application's exec (runtime.spawn.process.exec_payload's rules): argv[0]
 * as is when it has a slash, else searched in the PATH of `envp`, the most
 * telling error kept (EACCES over ENOENT and ENOTDIR). On failure the message
 * lxc-execute prints, on the application's stderr, and status 255.
 */
static void exec_application(const char *name, char **argv, char **envp)
{
	const char *path = DEFAULT_PATH;
	int error = ENOENT, denied = 0, other = 0;
	char message[512];

	for (char **entry = envp; *entry != NULL; entry++)
		if (strncmp(*entry, "PATH=", 5) == 0)
			path = *entry + 5;
	if (strchr(argv[0], '/') != NULL) {
		execve(argv[0], argv, envp);
		error = errno;
	} else {
		size_t length = strlen(argv[0]);

		while (path != NULL) {
			const char *colon = strchr(path, ':');
			size_t dir = colon ? (size_t)(colon - path) : strlen(path);
			char *full = malloc(dir + length + 3);

			if (full != NULL) {
				if (dir == 0)
					memcpy(full, ".", (dir = 1));
				else
					memcpy(full, path, dir);
				full[dir] = '/';
				memcpy(full + dir + 1, argv[0], length + 1);
				execve(full, argv, envp);
				if (errno == EACCES)
					denied = errno;
				else if (errno != ENOENT && errno != ENOTDIR)
					other = errno;
				free(full);
			}
			path = colon ? colon + 1 : NULL;
		}
		error = denied ? denied : other ? other : ENOENT;
	}
	snprintf(message, sizeof(message), "lxc-execute: %s: Failed to exec \"%s\": %s\n",
		 name, argv[0], strerror(error));
	complain(message);
	_exit(255);
}

/*
 * Fork the application: it waits until we have closed the sync socket (our copy
 * is a host fd no container code may find in pid 1), takes a session of its own
 * (and stdin as its controlling terminal when that is a free tty), unblocks
 * every signal and execs. Returns its pid, or -1.
 */
static pid_t start_application(const char *name, int sync, char **argv, char **envp)
{
	int gate[2];
	pid_t pid;
	char byte;
	sigset_t none;

	if (fcntl(sync, F_SETFD, FD_CLOEXEC) != 0 || pipe2(gate, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(gate[1]);
		while (read(gate[0], &byte, 1) < 0 && errno == EINTR)
			;
		close(gate[0]);
		setsid();
		if (isatty(0))
			ioctl(0, TIOCSCTTY, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		exec_application(name, argv, envp);
	}
	close(sync);
	close(gate[0]);
	close(gate[1]);
	return pid;
}

int main(int argc, char **argv)
{
	sigset_t waited;
	long long kill_at = 0;
	int app_status = 0, app_done = 0;
	int own_pid_ns = getpid() == 1;
	char *tail;
	long app = 0, sync = -1, count = 0;
	char **app_argv = NULL, **app_envp = NULL;
	const char *name = NULL;

	if (argc >= 6 && strcmp(argv[1], "--run") == 0) {
		name = strdup(argv[2]);
		errno = 0;
		sync = strtol(argv[3], &tail, 10);
		if (errno != 0 || *tail != '\0' || sync < 3 || sync > 0x7fffffff) {
			complain("trio-lxc-init: SYNC_FD must be a descriptor\n");
			return 255;
		}
		count = strtol(argv[4], &tail, 10);
		if (errno != 0 || *tail != '\0' || count < 1 || count > argc - 5) {
			complain("trio-lxc-init: ARGC does not match the arguments\n");
			return 255;
		}
		app_argv = copy_strings(argv + 5, (int)count);
		app_envp = copy_strings(argv + 5 + count, argc - 5 - (int)count);
		if (name == NULL || app_argv == NULL || app_envp == NULL) {
			complain("trio-lxc-init: out of memory\n");
			return 255;
		}
	} else if (argc == 2) {
		errno = 0;
		app = strtol(argv[1], &tail, 10);
		if (errno != 0 || *tail != '\0' || app <= 0 || app > 0x3fffffff) {
			complain("trio-lxc-init: APP_PID must be a process id\n");
			return 255;
		}
	} else {
		complain("trio-lxc-init: usage: init --run NAME SYNC_FD ARGC ARG... ENV... | init APP_PID\n");
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
	if (app_argv != NULL) {
		app = start_application(name, (int)sync, app_argv, app_envp);
		if (app < 0) {
			complain("trio-lxc-init: cannot start the application\n");
			return 255;
		}
	}

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
