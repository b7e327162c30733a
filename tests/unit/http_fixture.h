/* http_fixture.h — the loopback HTTP server of the unit tests that make
 * real requests (tests/http/server.py, on a port it picks): started once,
 * its port in server_port, stopped at the end; it dies with the test (a
 * crashed test leaves no server). Include after cmocka.h. Used by
 * test_http.c and test_call.c. */
#ifndef SL_TEST_HTTP_FIXTURE_H
#define SL_TEST_HTTP_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t server_pid;
static FILE *server_out;
static int server_port;

/* 0 once the server listens; -1 after saying why. */
static int http_server_start(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", "tests/http/server.py", "--port", "0", (char *)NULL);
        perror("exec python3");
        _exit(127);
    }
    close(fds[1]);
    server_out = fdopen(fds[0], "r");
    char line[64];
    if (!server_out || !fgets(line, sizeof line, server_out) ||
        sscanf(line, "listening %d", &server_port) != 1) {
        fprintf(stderr, "tests/http/server.py did not start\n");
        return -1;
    }
    return 0;
}

static void http_server_stop(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    if (server_out)
        fclose(server_out);
}

#endif
