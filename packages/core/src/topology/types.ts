/**
 * What the OS storage stack made of a USB mass-storage interface: its disks,
 * partitions, mounts and other users. Shared by the readers in this module,
 * the USB backends' listings and the handoff lease.
 */

/** One mounted filesystem, with everything needed to mount it again the same way. */
export interface MountedFilesystem {
  /** Block device: `/dev/sda1` (Linux), `disk4s1` (macOS). */
  device: string;
  mountPoint: string;
  /** `vfat`, `ext4`, `msdos`, `apfs`… */
  fsType: string;
  /** Mount options as the OS lists them, comma-separated (`rw,relatime,fmask=0022`). */
  options: string;
  /**
   * The directory of the filesystem this mount shows, when not its root: a
   * bind mount of a subdirectory (Linux mountinfo field 4). Absent or `/` for
   * an ordinary mount.
   */
  root?: string;
  /** The whole disk the filesystem lives on (`/dev/sda`, `disk4`). */
  wholeDisk: string;
}

/** What the OS storage stack currently makes of one mass-storage interface. */
export interface DeviceStorage {
  /** Kernel driver bound to the interface (`usb-storage`, `uas`, `IOUSBMassStorageDriver`…), null if none. */
  driver: string | null;
  /** Whole-disk block devices (`/dev/sda`, `disk4`). */
  wholeDisks: string[];
  /** Partitions of those disks (`/dev/sda1`, `disk4s1`). */
  partitions: string[];
  /** Every mounted filesystem on any whole disk or partition above, in mount order. */
  mounts: MountedFilesystem[];
  /**
   * Users of the disks other than mounted filesystems, which a lease cannot
   * unmount and must not pull the disk from: device-mapper (LVM, dm-crypt),
   * md RAID, active swap. Optional: a platform that cannot tell leaves it out.
   */
  otherUsers?: DiskUser[];
}

export interface DiskUser {
  /** The disk or partition in use (`/dev/sda2`). */
  device: string;
  /** Who uses it: `dm-0`, `md127`, `swap`. */
  user: string;
}
