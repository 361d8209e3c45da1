import Foundation

/// Stand-in `nix`, `nixos-anywhere` and `clan` executables for tests on the stand-in node. They take
/// exactly the arguments the real tools take (an unknown flag aborts as nixos-anywhere does), log
/// every call, and carry out each phase's effect on the stand-in over ssh (the `ssh` first on
/// PATH, which under pve2nix is its strict shim): kexec and reboot ask the test's world to boot
/// the VM again (same disks, same host key, same port) as the installer or the installed system;
/// disko really wipes and lays out the by-id disks named in the generated disko.nix; install
/// writes the system marker that `/run/booted-system` resolves to after the reboot. A file
/// `hang-<phase>` or `fail-<phase>` in the control directory makes the next run of that phase
/// hang or fail. `clan machines install` (path C) takes clan's flags (install-facts §4.1), logs
/// every call, builds the disko script and the system with the stand-in `nix` and runs the
/// stand-in `nixos-anywhere` for its one phase, as clan's per-phase loop does.
public enum StandInInstallTools {
    /// Writes `nix`, `nixos-anywhere` and `clan` into `control/bin`.
    public static func write(control: URL) throws {
        let bin = control.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: control.appendingPathComponent("store"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for (name, text) in [("nix", nix), ("nixos-anywhere", nixosAnywhere), ("clan", clan)] {
            let file = bin.appendingPathComponent(name)
            try Data(text.replacingOccurrences(of: "@CONTROL@", with: control.path).utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
    }

    static let nix = #"""
    #!/usr/bin/env bash
    # pve2nix test stand-in for `nix build … --print-out-paths FLAKE#ATTR`.
    set -euo pipefail
    control='@CONTROL@'
    printf '%s\n' "$*" >> "$control/nix-calls"
    [ "${1:-}" = build ] || { echo "stand-in nix: only 'nix build'" >&2; exit 1; }
    attr=${!#}; tree=${attr%%#*}; what=${attr#*#}
    [ -f "$tree/flake.nix" ] || { echo "error: path '$tree' does not contain a 'flake.nix'" >&2; exit 1; }
    [ -e "$control/fail-build" ] && { rm -f "$control/fail-build"; echo "error: builder for '/nix/store/x.drv' failed with exit code 1" >&2; exit 1; }
    hash=$(printf %s "$attr" | sha256sum | tr -dc 'a-z0-9' | tr 'aeiou' 'bcdfg' | cut -c1-32)
    case "$what" in
      *toplevel) name=nixos-system-$(basename "$tree");;
      *diskoScript)
        name=disko
        disks=$(grep -o '"/dev/disk/by-id/[^"]*"' "$tree/disko.nix" | tr -d '"')
        [ -n "$disks" ] || { echo "error: disko.nix names no /dev/disk/by-id device" >&2; exit 1; }
        {
          echo 'set -eux'
          i=0
          for dev in $disks; do
            n=main; [ $i -gt 0 ] && n=mirror$i
            cat <<SCRIPT
    real=\$(readlink -f $dev)
    [ -b "\$real" ]
    # As disko's wipe: every VG with a PV on the disk goes, whole.
    for vg in \$(pvs --noheadings -o pv_name,vg_name 2>/dev/null | awk -v d="\$real" 'index(\$1, d) == 1 { print \$2 }' | sort -u); do
      vgchange -an "\$vg"; vgremove -ff "\$vg"
    done
    for p in "\$real"?*; do [ -b "\$p" ] && wipefs -a -f "\$p"; done
    wipefs -a -f "\$real"
    sgdisk -Z "\$real"
    sgdisk -n1:0:+64M -t1:EF00 -c1:disk-$n-ESP -n2:0:0 -t2:8300 -c2:disk-$n-root "\$real"
    udevadm settle -t 10
    mkfs.vfat -n ESP "\${real}1"
    mkfs.ext4 -q -F -L nixos "\${real}2"
    udevadm settle -t 10
    SCRIPT
            i=$((i+1))
          done
          echo 'mkdir -p /mnt && mount /dev/disk/by-partlabel/disk-main-root /mnt && mkdir -p /mnt/boot && mount /dev/disk/by-partlabel/disk-main-ESP /mnt/boot'
        } > "$control/store/$hash-disko";;
      *kexecInstallerTarball) name=kexec-installer;;
      *) echo "error: flake '$tree' does not provide attribute '$what'" >&2; exit 1;;
    esac
    echo "$hash-$name" >> "$control/built"
    echo "/nix/store/$hash-$name"
    """#

    static let nixosAnywhere = #"""
    #!/usr/bin/env bash
    # pve2nix test stand-in for nixos-anywhere: one phase per call, its effects on the stand-in.
    set -euo pipefail
    control='@CONTROL@'
    printf '%s\n' "$*" >> "$control/nixos-anywhere-calls"
    abort() { echo "aborted: $*" >&2; exit 1; }
    step() { echo "### $* ###"; }
    phases=kexec,disko,install,reboot; disko=; toplevel=; flake=; key=; host=; port=22; kexec=; facter=; copy=0
    while [ $# -gt 0 ]; do
      case "$1" in
        --phases) phases=$2; shift 2;;
        -s|--store-paths) disko=$2; toplevel=$3; shift 3;;
        -f|--flake) flake=$2; shift 2;;
        -i) key=$2; shift 2;;
        --target-host) host=$2; shift 2;;
        -p|--ssh-port) port=$2; shift 2;;
        --kexec) kexec=$2; shift 2;;
        --generate-hardware-config) [ "$2" = nixos-facter ] || abort "Unknown hardware config backend $2"; facter=$3; shift 3;;
        --copy-host-keys) copy=1; shift;;
        --post-kexec-ssh-port) shift 2;;
        *) abort "Unknown option $1";;
      esac
    done
    [ -n "$flake$disko" ] || abort "--flake or --store-paths must be set"
    [ -n "$host" ] || abort "No target host given"
    [ -f "$key" ] || abort "identity file $key missing"
    case "$phases" in kexec|disko|install|reboot) ;; *) abort "pve2nix passes one phase per call, got '$phases'";; esac
    phase=$phases
    if [ -e "$control/hang-$phase" ]; then rm -f "$control/hang-$phase"; step "Gathering machine facts"; sleep 100000; fi
    if [ -e "$control/fail-$phase" ]; then rm -f "$control/fail-$phase"; step "Gathering machine facts"; abort "the stand-in was told to fail $phase"; fi
    [ "$phase" = kexec ] || host=root@${host#*@}
    # nixos-anywhere's own ssh options come after those of the ssh first on PATH.
    nassh() { ssh -o IdentitiesOnly=yes -i "$key" -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=10 -p "$port" "$host" "$@"; }
    storefile() { echo "$control/store/$(basename "$1")"; }
    reboot_as() {
      rm -f "$control/done"; echo "$1" > "$control/request"
      for _ in $(seq 1 600); do [ -e "$control/done" ] && { rm -f "$control/done"; return 0; }; sleep 0.5; done
      abort "the stand-in did not come back as $1"
    }
    in_installer() { nassh 'grep -qx VARIANT_ID=installer /etc/os-release'; }
    case "$phase" in
      kexec)
        step "Uploading install SSH keys"
        # ssh-copy-id skips a key that logs in; else it would append it to root's authorized_keys.
        nassh true || { touch "$control/ssh-copy-id-would-append"; abort "ssh-copy-id: the install key does not log in"; }
        step "Gathering machine facts"
        if in_installer; then echo "already in the installer: kexec skipped"; else
          grep -qx "$(basename "$(dirname "$kexec")")" "$control/built" || abort "kexec image $kexec was not built"
          step "Switching system into kexec"
          nassh 'cat /root/.ssh/authorized_keys /root/.ssh/authorized_keys2 2>/dev/null || true' > "$control/installer-keys"
          echo "machine will boot into nixos in 6s..."
          reboot_as installer
        fi
        if [ -n "$facter" ]; then step "Generating facter.json using nixos-facter"; echo '{"version": 1, "stand-in": true}' > "$facter"; fi;;
      disko)
        in_installer || abort "disko runs only in the installer"
        [ -f "$(storefile "$disko")" ] || abort "disko script $disko was not built"
        step "Formatting hard drive with disko"
        # As nixos-anywhere runs it: the script's store path shows on the node's process list.
        nassh "bash -s $disko" < "$(storefile "$disko")" > "$control/disko.log" 2>&1 || { tail -n 20 "$control/disko.log" >&2; exit 1; }
        echo run >> "$control/disko-runs";;
      install)
        in_installer || abort "install runs only in the installer"
        step "Uploading the system closure"
        nassh 'mountpoint -q /mnt' || abort "/mnt is not mounted"
        step "Installing NixOS"
        name=$(basename "$toplevel")
        nassh "mkdir -p /mnt/nix/store/$name /mnt/nix/var/nix/profiles /mnt/etc/ssh && ln -sfn /nix/store/$name /mnt/nix/var/nix/profiles/system && echo /nix/store/$name > /mnt/pve2nix-standin-system"
        [ "$copy" = 1 ] && nassh 'cp -a /etc/ssh/ssh_host_* /mnt/etc/ssh/'
        echo "installation finished!";;
      reboot)
        step "Rebooting"
        # A reboot syncs and unmounts; the world ends the VM without asking.
        nassh 'sync; umount -R /mnt 2>/dev/null || true; sync'
        reboot_as nixos
        step "Waiting for the machine to become unreachable due to reboot";;
    esac
    step "Done!"
    """#

    static let clan = #"""
    #!/usr/bin/env bash
    # pve2nix test stand-in for `clan machines install`: one nixos-anywhere phase per listed phase.
    set -euo pipefail
    control='@CONTROL@'
    printf '%s\n' "$*" >> "$control/clan-calls"
    usage() { echo "usage: clan machines install [-h] ... machine" >&2; echo "clan: error: $*" >&2; exit 2; }
    [ "${1:-}" = machines ] && [ "${2:-}" = install ] || usage "the stand-in plays only 'clan machines install'"
    shift 2
    machine=; flake=; target=; key=; phases=; yes=0
    while [ $# -gt 0 ]; do
      case "$1" in
        --flake) flake=$2; shift 2;;
        --target-host) target=$2; shift 2;;
        -i) key=$2; shift 2;;
        --phases) phases=$2; shift 2;;
        --update-hardware-config) case "$2" in nixos-facter|nixos-generate-config|none) ;; *) usage "argument --update-hardware-config: invalid choice: '$2'";; esac; shift 2;;
        --build-on|--kexec|--host-key-check|--password|-j|--json|-P|--png) shift 2;;
        --yes) yes=1; shift;;
        --no-reboot|--no-persist-state|--debug) shift;;
        -*) usage "unrecognized arguments: $1";;
        *) [ -z "$machine" ] || usage "unrecognized arguments: $1"; machine=$1; shift;;
      esac
    done
    [ -n "$machine" ] || usage "the following arguments are required: machine"
    [ -n "$flake" ] && [ -n "$target" ] || usage "--flake and --target-host are needed here"
    [ "$yes" = 1 ] || { echo "Install $machine to $target? [y/N] EOFError" >&2; exit 1; }
    # clan's user@host:port; an IPv6 host comes in brackets.
    hostport=${target#*@}; port=22
    case "$hostport" in
      \[*\]:*) port=${hostport##*:}; hostport=${hostport%:*}; hostport=${hostport#[}; hostport=${hostport%]};;
      *:*:*) ;;
      *:*) port=${hostport##*:}; hostport=${hostport%:*};;
    esac
    attr() { "$control/bin/nix" build --extra-experimental-features 'nix-command flakes' --no-link --print-out-paths "$flake#nixosConfigurations.\"$machine\".config.system.build.$1" | tail -n1; }
    disko=$(attr diskoScript); toplevel=$(attr toplevel)
    for phase in ${phases//,/ }; do
      "$control/bin/nixos-anywhere" --phases "$phase" --store-paths "$disko" "$toplevel" -i "$key" -p "$port" --target-host "root@$hostport"
    done
    """#
}
