/*
 * The kernel baseline for `pnpm bench`: sequential O_DIRECT reads and writes on the block device
 * (the page cache is bypassed, as with `dd iflag=direct`), timed inside the process so that no
 * process start-up is counted, and TEST UNIT READY through the SG_IO ioctl on the sg node.
 * Busybox's dd does take iflag=direct, but prints no timing and would add a fork+exec per point.
 *
 *   direct-io suite BLOCKDEV SGDEV TOTAL_BYTES CHUNKS_CSV WRITE_OFFSET_BYTES TUR_COUNT
 *     -> {"read":{"65536":seconds,…},"write":{…},"tur":{"p50_us":…,"p99_us":…}}
 *
 * Exit status 1 on any I/O failure, with the reason on stderr (the bench reports it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <scsi/sg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples (same rule as tools/bench/lib/report.mjs). */
static double rank(const double *sorted, int n, int p) {
  int r = (n * p + 99) / 100 - 1;
  return sorted[r < 0 ? 0 : r >= n ? n - 1 : r];
}

static int transfer(const char *dev, int write, uint64_t total, uint64_t chunk, uint64_t offset, unsigned char *buf,
                    double *secs) {
  int fd = open(dev, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
  if (fd < 0) { fprintf(stderr, "direct-io: open %s: %s\n", dev, strerror(errno)); return -1; }
  double t0 = now_s();
  for (uint64_t off = 0; off < total; off += chunk) {
    ssize_t n = write ? pwrite(fd, buf, chunk, (off_t)(offset + off)) : pread(fd, buf, chunk, (off_t)(offset + off));
    if (n != (ssize_t)chunk) {
      fprintf(stderr, "direct-io: %s %s at %llu: %s\n", write ? "pwrite" : "pread", dev,
              (unsigned long long)(offset + off), n < 0 ? strerror(errno) : "short transfer");
      close(fd);
      return -1;
    }
  }
  *secs = now_s() - t0;
  close(fd);
  return 0;
}

static int tur_loop(const char *sgdev, int count, double *p50, double *p99) {
  int fd = open(sgdev, O_RDWR);
  if (fd < 0) { fprintf(stderr, "direct-io: open %s: %s\n", sgdev, strerror(errno)); return -1; }
  double *lat = calloc((size_t)count, sizeof(double));
  unsigned char cdb[6] = {0}, sense[32];
  int rc = 0;
  /* As many untimed first, as the bench's JavaScript paths get (tools/bench/guest/bench.mjs). */
  for (int i = -count; i < count; i++) {
    sg_io_hdr_t io;
    memset(&io, 0, sizeof io);
    io.interface_id = 'S';
    io.cmd_len = 6;
    io.cmdp = cdb;
    io.dxfer_direction = SG_DXFER_NONE;
    io.sbp = sense;
    io.mx_sb_len = sizeof sense;
    io.timeout = 20000;
    double t0 = now_s();
    if (ioctl(fd, SG_IO, &io) < 0 || (io.info & SG_INFO_OK_MASK) != SG_INFO_OK) {
      if (io.status != 0x02) { /* a CHECK CONDITION (e.g. a unit attention) still timed a full round trip */
        fprintf(stderr, "direct-io: SG_IO TEST UNIT READY failed: %s (status %d host %d driver %d)\n", strerror(errno),
                io.status, io.host_status, io.driver_status);
        rc = -1;
        break;
      }
    }
    if (i >= 0) lat[i] = (now_s() - t0) * 1e6;
  }
  close(fd);
  if (rc == 0) {
    qsort(lat, (size_t)count, sizeof(double), cmp_double);
    *p50 = rank(lat, count, 50);
    *p99 = rank(lat, count, 99);
  }
  free(lat);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 8 || strcmp(argv[1], "suite") != 0) {
    fprintf(stderr, "usage: direct-io suite BLOCKDEV SGDEV TOTAL_BYTES CHUNKS_CSV WRITE_OFFSET_BYTES TUR_COUNT\n");
    return 2;
  }
  const char *blockdev = argv[2], *sgdev = argv[3];
  uint64_t total = strtoull(argv[4], NULL, 10), woff = strtoull(argv[6], NULL, 10);
  int turs = atoi(argv[7]);
  uint64_t chunks[16];
  int nchunks = 0;
  uint64_t maxchunk = 0;
  for (char *s = strtok(argv[5], ","); s && nchunks < 16; s = strtok(NULL, ",")) {
    chunks[nchunks] = strtoull(s, NULL, 10);
    if (chunks[nchunks] == 0 || chunks[nchunks] % 4096 || total % chunks[nchunks]) {
      fprintf(stderr, "direct-io: bad chunk %s\n", s);
      return 2;
    }
    if (chunks[nchunks] > maxchunk) maxchunk = chunks[nchunks];
    nchunks++;
  }
  unsigned char *buf;
  if (posix_memalign((void **)&buf, 4096, maxchunk) != 0) return 1;
  memset(buf, 0x5a, maxchunk);
  double secs[2][16];
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < nchunks; i++)
      if (transfer(blockdev, w, total, chunks[i], w ? woff : 0, buf, &secs[w][i]) != 0) return 1;
  double p50 = 0, p99 = 0;
  if (turs > 0 && tur_loop(sgdev, turs, &p50, &p99) != 0) return 1;
  printf("{");
  for (int w = 0; w < 2; w++) {
    printf("%s\"%s\":{", w ? "," : "", w ? "write" : "read");
    for (int i = 0; i < nchunks; i++)
      printf("%s\"%llu\":%.6f", i ? "," : "", (unsigned long long)chunks[i], secs[w][i]);
    printf("}");
  }
  printf(",\"tur\":{\"p50_us\":%.1f,\"p99_us\":%.1f}}\n", p50, p99);
  free(buf);
  return 0;
}
