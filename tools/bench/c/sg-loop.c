/*
 * What SG_IO itself costs, from C, for `pnpm bench`'s c-sg path: sequential READ(10) / WRITE(10)
 * through the SG_IO ioctl on the block device, one command per ioctl, from page-aligned memory (the
 * block layer maps it in place), beside direct-io's O_DIRECT pread/pwrite of the same sizes; and
 * TEST UNIT READY on the sg node twice: the SG_IO ioctl, and the sg driver's asynchronous interface
 * (write() queues the command, poll() waits, read() collects it), which is what usbscsi's sg node
 * uses for small commands.
 *
 *   sg-loop suite BLOCKDEV SGDEV TOTAL_BYTES CHUNKS_CSV WRITE_OFFSET_BYTES TUR_COUNT MAX_COMMAND_BYTES
 *     -> {"read":{"65536":seconds,…},"write":{…},"tur":{"p50_us":…,"p99_us":…},"turAsync":{…}}
 *   sg-loop tur SGDEV TUR_COUNT   (one round of the bench's tur-ab path: the ioctl, then write/poll/read)
 *     -> {"tur":{"p50_us":…,"p99_us":…},"turAsync":{…}}
 *
 * A chunk larger than MAX_COMMAND_BYTES (the queue's max_hw_sectors_kb: SG_IO refuses more in one
 * command) goes as several commands, as ScsiDevice splits it.
 *
 * Exit status 1 on any failure, with the reason on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

static void header(sg_io_hdr_t *io, unsigned char *cdb, int cdb_len, unsigned char *sense, int dir, void *buf,
                   unsigned len) {
  memset(io, 0, sizeof *io);
  io->interface_id = 'S';
  io->cmd_len = cdb_len;
  io->cmdp = cdb;
  io->dxfer_direction = dir;
  io->dxferp = buf;
  io->dxfer_len = len;
  io->sbp = sense;
  io->mx_sb_len = 32;
  io->timeout = 20000;
}

static int plain(const sg_io_hdr_t *io) {
  return io->status == 0 && io->host_status == 0 && (io->driver_status & 0xf) == 0 && io->resid == 0;
}

static int transfer(int fd, int write, uint64_t total, uint64_t chunk, uint64_t offset, unsigned char *buf,
                    double *secs) {
  /* `chunk` here is one command's bytes: the caller caps it at MAX_COMMAND_BYTES. */
  unsigned char cdb[10], sense[32];
  double t0 = now_s();
  for (uint64_t off = 0; off < total; off += chunk) {
    uint32_t lba = (uint32_t)((offset + off) / 512), blocks = (uint32_t)(chunk / 512);
    memset(cdb, 0, sizeof cdb);
    cdb[0] = write ? 0x2a : 0x28;
    cdb[2] = lba >> 24, cdb[3] = lba >> 16, cdb[4] = lba >> 8, cdb[5] = lba;
    cdb[7] = blocks >> 8, cdb[8] = blocks;
    sg_io_hdr_t io;
    header(&io, cdb, 10, sense, write ? SG_DXFER_TO_DEV : SG_DXFER_FROM_DEV, buf, (unsigned)chunk);
    if (ioctl(fd, SG_IO, &io) < 0 || !plain(&io)) {
      fprintf(stderr, "sg-loop: SG_IO %s at LBA %u: %s (status %d host %d driver %d resid %d)\n",
              write ? "WRITE" : "READ", lba, strerror(errno), io.status, io.host_status, io.driver_status, io.resid);
      return -1;
    }
  }
  *secs = now_s() - t0;
  return 0;
}

static int tur_loop(int fd, int count, int async, double *p50, double *p99) {
  double *lat = calloc((size_t)count, sizeof(double));
  unsigned char cdb[6] = {0}, sense[32];
  int rc = 0;
  /* As many untimed first, as the bench's JavaScript paths get (tools/bench/guest/bench.mjs). */
  for (int i = -count; i < count && rc == 0; i++) {
    sg_io_hdr_t io;
    header(&io, cdb, 6, sense, SG_DXFER_NONE, NULL, 0);
    double t0 = now_s();
    if (!async) {
      if (ioctl(fd, SG_IO, &io) < 0) rc = -1;
    } else {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (write(fd, &io, sizeof io) < 0 || poll(&p, 1, 20000) != 1 || read(fd, &io, sizeof io) < 0) rc = -1;
    }
    if (i >= 0) lat[i] = (now_s() - t0) * 1e6;
    if (rc == 0 && io.status != 0 && io.status != 0x02) rc = -1; /* a unit attention still timed a round trip */
    if (rc != 0)
      fprintf(stderr, "sg-loop: TEST UNIT READY (%s) failed: %s (status %d host %d)\n", async ? "async" : "ioctl",
              strerror(errno), io.status, io.host_status);
  }
  if (rc == 0) {
    qsort(lat, (size_t)count, sizeof(double), cmp_double);
    *p50 = rank(lat, count, 50);
    *p99 = rank(lat, count, 99);
  }
  free(lat);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "tur") == 0) {
    int sfd = open(argv[2], O_RDWR), turs = atoi(argv[3]);
    double p50 = 0, p99 = 0, a50 = 0, a99 = 0;
    if (sfd < 0 || turs < 1) {
      fprintf(stderr, "sg-loop: open %s: %s (or a TUR count below 1)\n", argv[2], strerror(errno));
      return sfd < 0 ? 1 : 2;
    }
    if (tur_loop(sfd, turs, 0, &p50, &p99) != 0 || tur_loop(sfd, turs, 1, &a50, &a99) != 0) return 1;
    printf("{\"tur\":{\"p50_us\":%.1f,\"p99_us\":%.1f},\"turAsync\":{\"p50_us\":%.1f,\"p99_us\":%.1f}}\n", p50, p99,
           a50, a99);
    close(sfd);
    return 0;
  }
  if (argc != 9 || strcmp(argv[1], "suite") != 0) {
    fprintf(stderr, "usage: sg-loop suite BLOCKDEV SGDEV TOTAL_BYTES CHUNKS_CSV WRITE_OFFSET_BYTES TUR_COUNT "
                    "MAX_COMMAND_BYTES\n       sg-loop tur SGDEV TUR_COUNT\n");
    return 2;
  }
  const char *blockdev = argv[2], *sgdev = argv[3];
  uint64_t total = strtoull(argv[4], NULL, 10), woff = strtoull(argv[6], NULL, 10);
  int turs = atoi(argv[7]);
  uint64_t maxcmd = strtoull(argv[8], NULL, 10);
  if (maxcmd == 0 || maxcmd % 4096) {
    fprintf(stderr, "sg-loop: bad MAX_COMMAND_BYTES %s\n", argv[8]);
    return 2;
  }
  uint64_t chunks[16], maxchunk = 0;
  int nchunks = 0;
  for (char *s = strtok(argv[5], ","); s && nchunks < 16; s = strtok(NULL, ",")) {
    chunks[nchunks] = strtoull(s, NULL, 10);
    if (chunks[nchunks] == 0 || chunks[nchunks] % 4096 || total % chunks[nchunks]) {
      fprintf(stderr, "sg-loop: bad chunk %s\n", s);
      return 2;
    }
    if (chunks[nchunks] > maxchunk) maxchunk = chunks[nchunks];
    nchunks++;
  }
  int bfd = open(blockdev, O_RDWR), sfd = open(sgdev, O_RDWR);
  if (bfd < 0 || sfd < 0) {
    fprintf(stderr, "sg-loop: open %s / %s: %s\n", blockdev, sgdev, strerror(errno));
    return 1;
  }
  unsigned char *buf;
  if (posix_memalign((void **)&buf, 4096, maxchunk) != 0) return 1;
  memset(buf, 0x5a, maxchunk);
  double secs[2][16];
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < nchunks; i++)
      if (transfer(bfd, w, total, chunks[i] < maxcmd ? chunks[i] : maxcmd, w ? woff : 0, buf, &secs[w][i]) != 0)
        return 1;
  double p50 = 0, p99 = 0, a50 = 0, a99 = 0;
  if (turs > 0 && (tur_loop(sfd, turs, 0, &p50, &p99) != 0 || tur_loop(sfd, turs, 1, &a50, &a99) != 0)) return 1;
  printf("{");
  for (int w = 0; w < 2; w++) {
    printf("%s\"%s\":{", w ? "," : "", w ? "write" : "read");
    for (int i = 0; i < nchunks; i++)
      printf("%s\"%llu\":%.6f", i ? "," : "", (unsigned long long)chunks[i], secs[w][i]);
    printf("}");
  }
  printf(",\"tur\":{\"p50_us\":%.1f,\"p99_us\":%.1f},\"turAsync\":{\"p50_us\":%.1f,\"p99_us\":%.1f}}\n", p50, p99, a50,
         a99);
  close(bfd);
  close(sfd);
  free(buf);
  return 0;
}
