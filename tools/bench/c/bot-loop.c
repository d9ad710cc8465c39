/*
 * The user-space baseline for `pnpm bench`: the plainest synchronous libusb BOT client that
 * can be written (one libusb_bulk_transfer per phase, no queueing), so that usbscsi's engines
 * are compared with what anyone would write by hand on the same device in the same run.
 *
 *   bot-loop VID:PID read  TOTAL_BYTES CHUNK_BYTES   -> {"op":"read","bytes":…,"seconds":…}
 *   bot-loop VID:PID write TOTAL_BYTES CHUNK_BYTES LBA_OFFSET
 *   bot-loop VID:PID tur   COUNT                     -> {"op":"tur","count":…,"p50_us":…,"p99_us":…}
 *   bot-loop VID:PID suite TOTAL CHUNKS_CSV WRITE_LBA TUR_COUNT
 *     -> {"read":{"65536":seconds,…},"write":{…},"tur":{"p50_us":…,"p99_us":…}}  (one detach for all)
 *
 * It detaches the kernel driver and re-attaches it at the end. Block size is taken from
 * READ CAPACITY(10). Exit status 1 on any BOT failure (the bench reports it, never hides it).
 */
#include <libusb-1.0/libusb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EP_OUT 0x02
#define EP_IN 0x81
#define TIMEOUT_MS 20000

static libusb_device_handle *handle;
static uint32_t tag;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bulk(unsigned char ep, unsigned char *buf, int len, int *done) {
  int r = libusb_bulk_transfer(handle, ep, buf, len, done, TIMEOUT_MS);
  if (r != 0) fprintf(stderr, "bot-loop: transfer on ep 0x%02x: %s\n", ep, libusb_error_name(r));
  return r;
}

/* One BOT command; returns CSW status, or -1 on a transport failure. */
static int command(const unsigned char *cdb, int cdb_len, unsigned char *data, uint32_t len, int in) {
  unsigned char cbw[31] = {0}, csw[13];
  uint32_t t = ++tag;
  memcpy(cbw, "USBC", 4);
  memcpy(cbw + 4, &t, 4); /* little-endian host */
  memcpy(cbw + 8, &len, 4);
  cbw[12] = in ? 0x80 : 0x00;
  cbw[14] = (unsigned char)cdb_len;
  memcpy(cbw + 15, cdb, cdb_len);
  int done = 0;
  if (bulk(EP_OUT, cbw, 31, &done) || done != 31) return -1;
  if (len > 0) {
    if (bulk(in ? EP_IN : EP_OUT, data, (int)len, &done)) return -1;
    if ((uint32_t)done != len) { fprintf(stderr, "bot-loop: short data %d of %u\n", done, len); return -1; }
  }
  if (bulk(EP_IN, csw, 13, &done) || done != 13) return -1;
  uint32_t ctag;
  memcpy(&ctag, csw + 4, 4);
  if (memcmp(csw, "USBS", 4) != 0 || ctag != t) { fprintf(stderr, "bot-loop: invalid CSW\n"); return -1; }
  return csw[12];
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

/* `count` TEST UNIT READYs; 0 and the percentiles, or 1 on a transport failure. */
static int tur_loop(int count, double *p50, double *p99) {
  double *lat = calloc((size_t)count, sizeof(double));
  const unsigned char tur[6] = {0};
  int rc = 0;
  /* As many untimed first, as the bench's JavaScript paths get (tools/bench/guest/bench.mjs). */
  for (int i = -count; i < count && rc == 0; i++) {
    double t0 = now_s();
    if (command(tur, 6, NULL, 0, 0) < 0) rc = 1;
    if (i >= 0) lat[i] = (now_s() - t0) * 1e6;
  }
  qsort(lat, (size_t)count, sizeof(double), cmp_double);
  *p50 = rank(lat, count, 50);
  *p99 = rank(lat, count, 99);
  free(lat);
  return rc;
}

/* Sequential READ(10)/WRITE(10) of `total` bytes in `chunk`-byte commands from `lba`. */
static int sequential(int write, uint64_t total, uint64_t chunk, uint32_t lba, uint32_t block, unsigned char *buf,
                      double *secs) {
  double t0 = now_s();
  for (uint64_t off = 0; off < total; off += chunk) {
    uint32_t blocks = (uint32_t)(chunk / block);
    unsigned char cdb[10] = {write ? 0x2a : 0x28, 0, lba >> 24, lba >> 16, lba >> 8, lba, 0, blocks >> 8, blocks, 0};
    if (command(cdb, 10, buf, (uint32_t)chunk, !write) != 0) return 1;
    lba += blocks;
  }
  *secs = now_s() - t0;
  return 0;
}

/* The device with this VID:PID and, when `serial` is not empty, this serial number (two QEMU disks share 46f4:0001). */
static libusb_device_handle *open_device(libusb_context *ctx, uint16_t vid, uint16_t pid, const char *serial) {
  libusb_device **list;
  ssize_t n = libusb_get_device_list(ctx, &list);
  libusb_device_handle *found = NULL;
  for (ssize_t i = 0; i < n && !found; i++) {
    struct libusb_device_descriptor d;
    if (libusb_get_device_descriptor(list[i], &d) != 0 || d.idVendor != vid || d.idProduct != pid) continue;
    libusb_device_handle *h;
    if (libusb_open(list[i], &h) != 0) continue;
    unsigned char text[128] = "";
    if (serial[0] == 0 ||
        (d.iSerialNumber && libusb_get_string_descriptor_ascii(h, d.iSerialNumber, text, sizeof text) > 0 &&
         strcmp((const char *)text, serial) == 0))
      found = h;
    else
      libusb_close(h);
  }
  if (n >= 0) libusb_free_device_list(list, 1);
  return found;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bot-loop VID:PID[:SERIAL] read|write TOTAL CHUNK [LBA] | tur COUNT"
                    " | suite TOTAL CHUNKS_CSV WRITE_LBA TUR_COUNT\n");
    return 2;
  }
  unsigned vid, pid;
  char serial[128] = "";
  if (sscanf(argv[1], "%x:%x:%127s", &vid, &pid, serial) < 2) {
    fprintf(stderr, "bot-loop: bad VID:PID[:SERIAL]\n");
    return 2;
  }
  libusb_context *ctx;
  if (libusb_init(&ctx) != 0) return 1;
  handle = open_device(ctx, (uint16_t)vid, (uint16_t)pid, serial);
  if (!handle) { fprintf(stderr, "bot-loop: cannot open %s\n", argv[1]); return 1; }
  int reattach = libusb_kernel_driver_active(handle, 0) == 1;
  if (reattach && libusb_detach_kernel_driver(handle, 0) != 0) {
    fprintf(stderr, "bot-loop: detach failed\n");
    return 1;
  }
  if (libusb_claim_interface(handle, 0) != 0) { fprintf(stderr, "bot-loop: claim failed\n"); return 1; }
  tag = (uint32_t)time(NULL);

  int rc = 0;
  unsigned char cap[8];
  const unsigned char rc10[10] = {0x25};
  if (command(rc10, 10, cap, 8, 1) != 0) { fprintf(stderr, "bot-loop: READ CAPACITY failed\n"); rc = 1; goto out; }
  uint32_t block = ((uint32_t)cap[4] << 24) | ((uint32_t)cap[5] << 16) | ((uint32_t)cap[6] << 8) | cap[7];

  if (strcmp(argv[2], "suite") == 0 && argc == 7) {
    uint64_t total = strtoull(argv[3], NULL, 10), chunks[16], maxchunk = 0;
    uint32_t wlba = (uint32_t)strtoul(argv[5], NULL, 10);
    int turs = atoi(argv[6]), n = 0;
    for (char *s = strtok(argv[4], ","); s && n < 16; s = strtok(NULL, ",")) {
      chunks[n] = strtoull(s, NULL, 10);
      if (chunks[n] == 0 || chunks[n] % block || total % chunks[n]) {
        fprintf(stderr, "bot-loop: bad chunk %s\n", s);
        rc = 2;
        goto out;
      }
      if (chunks[n] > maxchunk) maxchunk = chunks[n];
      n++;
    }
    unsigned char *buf = malloc(maxchunk);
    memset(buf, 0xa5, maxchunk);
    double secs[2][16], p50 = 0, p99 = 0;
    for (int w = 0; w < 2 && rc == 0; w++)
      for (int i = 0; i < n && rc == 0; i++)
        rc = sequential(w, total, chunks[i], w ? wlba : 0, block, buf, &secs[w][i]);
    if (rc == 0 && turs > 0) rc = tur_loop(turs, &p50, &p99);
    if (rc == 0) {
      printf("{");
      for (int w = 0; w < 2; w++) {
        printf("%s\"%s\":{", w ? "," : "", w ? "write" : "read");
        for (int i = 0; i < n; i++) printf("%s\"%llu\":%.6f", i ? "," : "", (unsigned long long)chunks[i], secs[w][i]);
        printf("}");
      }
      printf(",\"tur\":{\"p50_us\":%.1f,\"p99_us\":%.1f}}\n", p50, p99);
    }
    free(buf);
  } else if (strcmp(argv[2], "tur") == 0) {
    int count = atoi(argv[3]);
    double p50, p99;
    rc = tur_loop(count, &p50, &p99);
    if (rc == 0) printf("{\"op\":\"tur\",\"count\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", count, p50, p99);
  } else if (argc >= 5) {
    int write = strcmp(argv[2], "write") == 0;
    uint64_t total = strtoull(argv[3], NULL, 10), chunk = strtoull(argv[4], NULL, 10);
    uint32_t lba = argc >= 6 ? (uint32_t)strtoul(argv[5], NULL, 10) : 0;
    unsigned char *buf = malloc(chunk);
    memset(buf, 0xa5, chunk);
    double secs = 0;
    rc = sequential(write, total, chunk, lba, block, buf, &secs);
    if (rc == 0)
      printf("{\"op\":\"%s\",\"bytes\":%llu,\"chunk\":%llu,\"seconds\":%.6f}\n", write ? "write" : "read",
             (unsigned long long)total, (unsigned long long)chunk, secs);
    free(buf);
  } else {
    fprintf(stderr, "bot-loop: missing arguments\n");
    rc = 2;
  }
out:
  libusb_release_interface(handle, 0);
  if (reattach) libusb_attach_kernel_driver(handle, 0);
  libusb_close(handle);
  libusb_exit(ctx);
  return rc;
}
