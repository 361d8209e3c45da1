extension StandInNodeRecipe {
    /// Run once, in the first boot of the image, on the blank base disks: the layout Proxmox's
    /// installer makes on the boot disk (BIOS boot, 512 MiB ESP, LVM PV with VG `pve`) and a
    /// partition with ext4 on each other disk. Reports on the second serial port, then powers off.
    static let prepareDisks = #"""
    boot=/dev/disk/by-id/virtio-PVE2NIXBOOT0001
    data=/dev/disk/by-id/virtio-PVE2NIXDATA0001
    spare=/dev/disk/by-id/virtio-PVE2NIXSPARE001
    sgdisk --zap-all "$boot"
    sgdisk -a 1 -n 1:34:2047 -t 1:EF02 "$boot"
    sgdisk -a 2048 -n 2:2048:+512M -t 2:EF00 -n 3:0:0 -t 3:8E00 "$boot"
    sgdisk -n 1:0:0 -t 1:8300 "$data"
    sgdisk -n 1:0:0 -t 1:8300 "$spare"
    udevadm settle -t 30
    mkfs.vfat -F 32 "$boot-part2"
    pvcreate -y "$boot-part3"
    vgcreate pve "$boot-part3"
    lvcreate -y -n swap -L 512M pve
    lvcreate -y -n root -L 1536M pve
    lvcreate -y -n data -L 1G pve
    mkswap /dev/pve/swap
    mkfs.ext4 -q -L root /dev/pve/root
    mkfs.ext4 -q -L data /dev/pve/data
    mkfs.ext4 -q -L pve2nix-data "$data-part1"
    mkfs.ext4 -q -L pve2nix-spare "$spare-part1"
    vgchange -an pve
    sync
    echo STANDIN-DISKS-PREPARED > /dev/ttyS1
    """#
}
