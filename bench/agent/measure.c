/*
 * measure OUT CMD [ARGS...]: runs CMD and writes "cpu_us=N wall_us=N maxrss_kb=N" to the file
 * OUT; exits with CMD's status (128+N when killed by signal N, 127 when it did not start).
 *
 * Why not measure from Python with wait4(): ru_maxrss survives exec, and Python starts
 * children with vfork, so a child's "peak RSS" is at least the RSS of the Python process that
 * started it (~37 MiB with grpcio loaded): the agent's 38.5 MiB of the first benchmark was
 * that. This process is small, forks (a fresh rusage, a copy of a ~1 MiB address space) and
 * only then execs the command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	long cpu_us, wall_us;
	int status;
	FILE *out;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: measure OUT CMD [ARGS...]\n");
		return 2;
	}
	if (clock_gettime(CLOCK_MONOTONIC, &t0)) {
		perror("measure: clock_gettime");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror("measure: exec");
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("measure: wait4");
			return 2;
		}
	}
	if (clock_gettime(CLOCK_MONOTONIC, &t1)) {
		perror("measure: clock_gettime");
		return 2;
	}
	cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
		 ru.ru_stime.tv_usec;
	wall_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
	out = fopen(argv[1], "w");
	if (!out ||
	    fprintf(out, "cpu_us=%ld wall_us=%ld maxrss_kb=%ld\n", cpu_us, wall_us, ru.ru_maxrss) <
		0 ||
	    fclose(out)) {
		perror("measure: write result");
		return 2;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
