/// The shell recipe that builds the rehearsal lab image: Debian's cloud kernel (`apt-get download`),
/// a debootstrap'd Debian 13 (trixie) root with systemd 257, udev, iproute2 and ifupdown2, packed as
/// ext4 without a loop mount, and a busybox initramfs that loads the virtio modules and hands over
/// to the scenario's own init. Its text is part of the cache key: change it and the image rebuilds.
public enum LabImageRecipe {
    static let version = "1"

    /// The start of a busybox initramfs that can read virtio disks: the modules taken from the
    /// unpacked kernel package, and the first lines of its init, which load them. The stand-in
    /// node's recipe uses it too.
    public static let initramfsStart = #"""
    mkdir -p initrd/bin initrd/mod initrd/dev initrd/proc initrd/sys initrd/newroot
    cp "$(command -v busybox)" initrd/bin/busybox
    for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
      f=$(find "kernel/lib/modules/$kver" -name "$m.ko*" | head -n 1)
      [ -n "$f" ] || continue
      case "$f" in
        *.xz) xz -dc "$f" > "initrd/mod/$m.ko" ;;
        *.zst) zstd -qdc "$f" > "initrd/mod/$m.ko" ;;
        *) cp "$f" "initrd/mod/$m.ko" ;;
      esac
    done
    cat > initrd/init <<'INIT'
    #!/bin/busybox sh
    /bin/busybox --install -s /bin
    mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
    for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
      [ -f /mod/$m.ko ] && insmod /mod/$m.ko 2>/dev/null
    done
    """#

    static let script = #"""
    #!/usr/bin/env bash
    # pve2nix lab image recipe v1. Usage: build.sh OUTPUT-DIR
    set -euo pipefail
    out=$1
    mirror=${PVE2NIX_LAB_MIRROR:-http://deb.debian.org/debian}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    step() { echo "lab: $*" >&2; }
    [ "$(id -u)" -eq 0 ] || { echo "lab: building the image needs root (debootstrap)" >&2; exit 1; }
    for tool in debootstrap mkfs.ext4 cpio busybox apt-get dpkg xz; do
      command -v "$tool" >/dev/null || { echo "lab: missing $tool: run scripts/setup" >&2; exit 1; }
    done

    step "kernel: resolving linux-image-cloud-amd64"
    cd "$work"
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    [ -n "$pkg" ] || { echo "lab: cannot resolve the cloud kernel package (apt-get update?)" >&2; exit 1; }
    step "kernel: downloading $pkg"
    apt-get download -qq "$pkg"
    dpkg -x "$pkg"_*.deb kernel
    kver=$(ls kernel/lib/modules | head -n 1)

    step "root: debootstrap trixie (this takes about a minute)"
    debootstrap --variant=minbase \
      --include=systemd,udev,iproute2,ifupdown2,iputils-ping,kmod,procps,ethtool,iputils-arping \
      trixie root "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    mkdir -p root/lib/modules
    cp -a "kernel/lib/modules/$kver" root/lib/modules/
    chroot root depmod "$kver" || depmod -b root "$kver"
    rm -rf root/usr/share/doc root/usr/share/man root/usr/share/locale root/var/cache/apt/* root/var/lib/apt/lists/*
    # A fixed machine-id: without one, generated MACs fall back to the port's MAC and hide problems.
    echo 5d1c0a4e8b7f4a3c9e2d1f0a6b5c4d3e > root/etc/machine-id
    echo lab > root/etc/hostname
    rm -f root/etc/network/interfaces
    mkdir -p root/lab
    step "root: packing ext4"
    mkfs.ext4 -q -L labroot -d root "$out/root.img.tmp" 1200M
    cp "kernel/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"

    step "initramfs"
    \#(initramfsStart)
    i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    mount -t ext4 /dev/vda /newroot || { echo "lab: no root disk"; echo o > /proc/sysrq-trigger; }
    rm -rf /newroot/lab/scenario; mkdir -p /newroot/lab
    [ -d /scenario ] && cp -a /scenario /newroot/lab/scenario
    umount /proc /sys /dev
    exec switch_root /newroot /bin/bash /lab/scenario/init.sh
    INIT
    chmod +x initrd/init
    (cd initrd && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initrd.img.tmp"
    for f in root.img vmlinuz initrd.img; do mv "$out/$f.tmp" "$out/$f"; done
    echo "$kver" > "$out/kernel-version"
    step "done: $out"
    """#
}
