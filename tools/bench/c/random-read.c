/*
 * The kernel's baseline for queued random reads: COUNT reads of 4 KiB at random 4 KiB-aligned
 * offsets in [0, REGION) of a block device, O_DIRECT, with DEPTH of them in flight (one thread
 * per outstanding request, each a blocking pread: the block layer sees DEPTH requests at once,
 * which the `uas` driver can queue at the device and usb-storage serialises).
 *   random-read DEVICE DEPTH COUNT REGION_BYTES SEED
 * Prints {"depth":D,"count":N,"seconds":S,"iops":I} on stdout; exit 1 with a message on error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IO_SIZE 4096
#define MAX_DEPTH 256

static int fd;
static long count;
static uint64_t slots;
static atomic_long next_io;
static atomic_int failed;

struct worker {
  pthread_t thread;
  uint64_t state;
};

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static void *run(void *arg) {
  struct worker *w = arg;
  void *buf;
  if (posix_memalign(&buf, IO_SIZE, IO_SIZE) != 0) {
    atomic_store(&failed, ENOMEM);
    return NULL;
  }
  while (atomic_fetch_add(&next_io, 1) < count && !atomic_load(&failed)) {
    off_t off = (off_t)(xorshift(&w->state) % slots) * IO_SIZE;
    ssize_t n = pread(fd, buf, IO_SIZE, off);
    if (n != IO_SIZE) {
      atomic_store(&failed, n < 0 ? errno : EIO);
      break;
    }
  }
  free(buf);
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: random-read DEVICE DEPTH COUNT REGION_BYTES SEED\n");
    return 2;
  }
  int depth = atoi(argv[2]);
  count = atol(argv[3]);
  uint64_t region = strtoull(argv[4], NULL, 10);
  uint64_t seed = strtoull(argv[5], NULL, 10);
  slots = region / IO_SIZE;
  if (depth < 1 || depth > MAX_DEPTH || count < 1 || slots < 1) {
    fprintf(stderr, "random-read: DEPTH 1..%d, COUNT >= 1, REGION_BYTES >= %d\n", MAX_DEPTH, IO_SIZE);
    return 2;
  }
  fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) {
    fprintf(stderr, "random-read: open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  static struct worker workers[MAX_DEPTH];
  double t0 = now();
  for (int i = 0; i < depth; i++) {
    workers[i].state = seed * 2654435761u + (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;
    if (pthread_create(&workers[i].thread, NULL, run, &workers[i]) != 0) {
      fprintf(stderr, "random-read: pthread_create failed\n");
      return 1;
    }
  }
  for (int i = 0; i < depth; i++) pthread_join(workers[i].thread, NULL);
  double seconds = now() - t0;
  close(fd);
  if (atomic_load(&failed)) {
    fprintf(stderr, "random-read: pread on %s: %s\n", argv[1], strerror(atomic_load(&failed)));
    return 1;
  }
  printf("{\"depth\":%d,\"count\":%ld,\"seconds\":%.6f,\"iops\":%.1f}\n", depth, count, seconds, count / seconds);
  return 0;
}
