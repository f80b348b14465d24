/*
 * The machine's own floor for one cross-core hand-off, with no pushbench code involved.
 *
 * Two threads pinned to cores 0 and 1 pass 8 bytes back and forth over a Unix socket pair,
 * 3,000 times, 2 ms apart (so each side goes idle in between, as a push server does between
 * messages), and print the round trip's p50/p90/p99. Every delivery pushbench measures pays at
 * least two such wake-ups (publisher to server, server to subscriber). Run it a few times in a
 * row: how much its p50 moves between runs is how much any latency figure on this machine can
 * move between runs (README, "Precision").
 *
 *   cc -O2 -pthread scripts/wake-pingpong.c -o /tmp/wake-pingpong && /tmp/wake-pingpong
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ROUNDS = 3000, GAP_US = 2000 };
static int pair[2];

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void pin(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

static void *echo(void *unused) {
    (void)unused;
    char b[8];
    pin(1);
    for (int i = 0; i < ROUNDS; i++)
        if (read(pair[1], b, sizeof b) != sizeof b || write(pair[1], b, sizeof b) != sizeof b) exit(1);
    return NULL;
}

static int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(void) {
    static long rtt[ROUNDS];
    char b[8] = {0};
    pthread_t t;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return perror("socketpair"), 1;
    pthread_create(&t, NULL, echo, NULL);
    pin(0);
    for (int i = 0; i < ROUNDS; i++) {
        long start = now_ns();
        if (write(pair[0], b, sizeof b) != sizeof b || read(pair[0], b, sizeof b) != sizeof b) return 1;
        rtt[i] = now_ns() - start;
        usleep(GAP_US);
    }
    pthread_join(t, NULL);
    qsort(rtt, ROUNDS, sizeof rtt[0], by_value);
    printf("round trip p50 %ld us, p90 %ld us, p99 %ld us\n", rtt[ROUNDS / 2] / 1000,
           rtt[ROUNDS * 9 / 10] / 1000, rtt[ROUNDS * 99 / 100] / 1000);
    return 0;
}
