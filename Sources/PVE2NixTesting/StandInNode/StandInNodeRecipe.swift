import PVE2NixAdapters

/// The shell recipe that builds the stand-in node's image, in the lab image's way (Debian's cloud
/// kernel, a debootstrap'd Debian 13 root packed with `mkfs.ext4 -d`, a busybox initramfs), but
/// booting the real root with systemd, so udev makes `/dev/disk/by-id`, LVM activates and sshd runs
/// as a service. The initramfs finds the root by its serial (`STANDINROOT`), so the other disks may
/// come in any order. Host keys are not in the image: each boot brings its own. Its text is part of
/// the cache key.
enum StandInNodeRecipe {
    static let version = "1"

    static let script = #"""
    #!/usr/bin/env bash
    # pve2nix stand-in node recipe v1. Usage: build.sh OUTPUT-DIR PAYLOAD-DIR
    # PAYLOAD-DIR holds the files the root takes over as they are (etc/pve, etc/network, ...).
    set -euo pipefail
    out=$1
    payload=$2
    mirror=${PVE2NIX_LAB_MIRROR:-http://deb.debian.org/debian}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    step() { echo "standin: $*" >&2; }
    [ "$(id -u)" -eq 0 ] || { echo "standin: building the image needs root (debootstrap)" >&2; exit 1; }
    for tool in debootstrap mkfs.ext4 cpio busybox apt-get dpkg xz gzip; do
      command -v "$tool" >/dev/null || { echo "standin: missing $tool: run scripts/setup" >&2; exit 1; }
    done

    step "kernel: resolving linux-image-cloud-amd64"
    cd "$work"
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    [ -n "$pkg" ] || { echo "standin: cannot resolve the cloud kernel package (apt-get update?)" >&2; exit 1; }
    step "kernel: downloading $pkg"
    apt-get download -qq "$pkg"
    dpkg -x "$pkg"_*.deb kernel
    kver=$(ls kernel/lib/modules | head -n 1)

    step "root: debootstrap trixie (a minute or two)"
    debootstrap --variant=minbase \
      --include=systemd,systemd-sysv,udev,dbus,openssh-server,lvm2,util-linux,iproute2,ifupdown2,procps,kmod,gdisk,dosfstools,e2fsprogs,ethtool \
      trixie root "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    mkdir -p root/lib/modules
    cp -a "kernel/lib/modules/$kver" root/lib/modules/
    chroot root depmod "$kver" || depmod -b root "$kver"
    chroot root apt-get clean
    rm -rf root/usr/share/doc root/usr/share/man root/usr/share/info root/usr/share/locale root/var/cache/apt/* root/var/lib/apt/lists/* root/var/log/*.log
    # Host keys come with every boot, so a test can boot the same disks under another key.
    rm -f root/etc/ssh/ssh_host_*
    echo 7c2e9a4b1d3f4e5a8b6c0d2e4f6a8b0c > root/etc/machine-id
    cp -a "$payload/." root/

    step "root: Proxmox-like layout"
    name=$(cat root/etc/hostname)
    ln -s "nodes/$name" root/etc/pve/local
    ln -s "nodes/$name/qemu-server" root/etc/pve/qemu-server
    ln -s "nodes/$name/lxc" root/etc/pve/lxc
    chmod 700 root/etc/pve/priv
    mkdir -p -m 700 root/root/.ssh
    ln -sf /etc/pve/priv/authorized_keys root/root/.ssh/authorized_keys
    ln -sf /etc/pve/priv/known_hosts root/etc/ssh/ssh_known_hosts
    cat > root/etc/ssh/sshd_config.d/standin.conf <<'CONF'
    HostKey /etc/ssh/ssh_host_ed25519_key
    PermitRootLogin prohibit-password
    PasswordAuthentication no
    KbdInteractiveAuthentication no
    UseDNS no
    CONF
    cat > root/usr/local/sbin/standin-scenario <<'SH'
    #!/bin/sh
    # Runs the boot's scenario (from /etc/standin/scenario.sh) once the disks are there, before sshd.
    udevadm settle -t 30 || true
    vgchange -ay >/dev/null 2>&1 || true
    udevadm settle -t 30 || true
    status=0
    [ -f /etc/standin/scenario.sh ] && { sh -ex /etc/standin/scenario.sh >/var/log/standin-scenario.log 2>&1 || status=$?; }
    echo "$status" > /run/standin-scenario.status
    echo "standin-scenario: $status" > /dev/ttyS1
    [ -f /etc/standin/poweroff ] && systemctl --no-block poweroff
    exit 0
    SH
    chmod 755 root/usr/local/sbin/standin-scenario
    cat > root/etc/systemd/system/standin-scenario.service <<'UNIT'
    [Unit]
    Description=pve2nix stand-in: this boot's scenario
    After=systemd-udev-settle.service local-fs.target lvm2-monitor.service
    Wants=systemd-udev-settle.service
    Before=ssh.service

    [Service]
    Type=oneshot
    ExecStart=/usr/local/sbin/standin-scenario
    RemainAfterExit=yes

    [Install]
    WantedBy=multi-user.target
    UNIT
    # QEMU's user network reaches the guest untagged: on the node's uplink port that is the management VLAN.
    cat > root/etc/systemd/system/standin-uplink.service <<'UNIT'
    [Unit]
    Description=pve2nix stand-in: QEMU's untagged user network carries the management VLAN
    After=networking.service
    Wants=networking.service

    [Service]
    Type=oneshot
    ExecStart=/bin/sh -c '. /etc/standin/uplink; bridge vlan add dev "$port" vid "$vid" pvid untagged'
    RemainAfterExit=yes

    [Install]
    WantedBy=multi-user.target
    UNIT
    ln -s /etc/systemd/system/standin-scenario.service root/etc/systemd/system/multi-user.target.wants/
    ln -s /etc/systemd/system/standin-uplink.service root/etc/systemd/system/multi-user.target.wants/
    for u in getty@.service serial-getty@.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer systemd-timesyncd.service; do
      ln -sf /dev/null "root/etc/systemd/system/$u"
    done
    : > root/etc/fstab

    step "root: packing ext4"
    size=$(( $(du -sm root | cut -f1) + 300 ))
    mkfs.ext4 -q -L standinroot -d root "$out/root.img.tmp" "${size}M"
    cp "kernel/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"

    step "initramfs"
    \#(LabImageRecipe.initramfsStart)
    # The root is the disk with serial STANDINROOT, whatever the order of the others.
    root=; i=0
    while [ -z "$root" ] && [ $i -lt 150 ]; do
      for s in /sys/block/vd*/serial; do
        [ -f "$s" ] && [ "$(cat "$s")" = STANDINROOT ] && { d=${s%/serial}; root=/dev/${d##*/}; }
      done
      [ -n "$root" ] || { sleep 0.1; i=$((i+1)); }
    done
    fail() { echo "standin: $*"; echo o > /proc/sysrq-trigger; sleep 10; }
    [ -n "$root" ] || fail "no root disk"
    mount -t ext4 "$root" /newroot || fail "cannot mount $root"
    # This boot's files (host key, authorized key, scenario) come as a second cpio.
    [ -d /standin/root ] && cp -a /standin/root/. /newroot/
    umount /proc /sys /dev
    exec switch_root /newroot /lib/systemd/systemd
    INIT
    chmod +x initrd/init
    (cd initrd && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initrd.img.tmp"
    for f in root.img vmlinuz initrd.img; do mv "$out/$f.tmp" "$out/$f"; done
    echo "$kver" > "$out/kernel-version"
    step "done: $out"
    """#
}
